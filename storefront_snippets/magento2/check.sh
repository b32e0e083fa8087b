#!/usr/bin/env bash
# Static checks of the Magento 2 module: `php -l` on every .php and .phtml file (the module's and
# the test helpers' in tests/), every .xml well-formed (xmllint when present, else Python's
# xml.etree), every .json parseable. Reports every failure, then exits non-zero if there was any.
# Needs php (apt-get install -y php-cli) and python3.
set -uo pipefail
cd "$(dirname "$0")"
module="Cartwise_Recommendations"
failed=0

if ! command -v php >/dev/null 2>&1; then
    echo "check.sh: php is missing (apt-get install -y php-cli)" >&2
    exit 2
fi

mapfile -d '' php_files < <(find "$module" tests -type f \( -name '*.php' -o -name '*.phtml' \) -print0 | sort -z)
mapfile -d '' xml_files < <(find "$module" -type f -name '*.xml' -print0 | sort -z)
mapfile -d '' json_files < <(find "$module" -type f -name '*.json' -print0 | sort -z)

if [ "${#php_files[@]}" -eq 0 ] || [ "${#xml_files[@]}" -eq 0 ]; then
    echo "check.sh: no PHP or XML files found under $module" >&2
    exit 1
fi

for file in "${php_files[@]}"; do
    if ! out=$(php -d display_errors=stderr -l "$file" 2>&1); then
        echo "$out" >&2
        echo "FAIL php -l $file" >&2
        failed=1
    fi
done

if command -v xmllint >/dev/null 2>&1; then
    for file in "${xml_files[@]}"; do
        xmllint --noout "$file" || { echo "FAIL xml $file" >&2; failed=1; }
    done
else
    # One Python process for all files (its start-up dominates the run time).
    python3 - "${xml_files[@]}" <<'PY' || failed=1
import sys
import xml.etree.ElementTree as ET

bad = 0
for path in sys.argv[1:]:
    try:
        ET.parse(path)
    except ET.ParseError as exc:
        print(f"{path}: {exc}\nFAIL xml {path}", file=sys.stderr)
        bad = 1
sys.exit(bad)
PY
fi

python3 - "${json_files[@]}" <<'PY' || failed=1
import json
import sys

bad = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as handle:
            json.load(handle)
    except ValueError as exc:
        print(f"{path}: {exc}\nFAIL json {path}", file=sys.stderr)
        bad = 1
sys.exit(bad)
PY

if [ "$failed" -ne 0 ]; then
    echo "check.sh: FAILED" >&2
    exit 1
fi
echo "check.sh: ${#php_files[@]} PHP, ${#xml_files[@]} XML and ${#json_files[@]} JSON files OK"
