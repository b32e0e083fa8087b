export declare const LIMIT_BYTES: number;
export interface ExtensionTargets {
  handle: string;
  targets: { target: string; module: string }[];
}
export declare function readTargets(tomlText: string): ExtensionTargets[];
export declare function stdinFor(targets: { target: string; module: string }[]): string;
export declare function esbuildOptions(targets: { target: string; module: string }[]): import("esbuild").BuildOptions;
