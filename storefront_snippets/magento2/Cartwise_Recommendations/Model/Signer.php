<?php
/**
 * Signs one delivery to cartwise's `POST /webhooks/magento`.
 *
 * No Magento dependency: the tests run it with the plain PHP CLI and check the result with the
 * server's own verifier.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

class Signer
{
    /**
     * The `X-Cartwise-Signature` header value: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC
     * computed over "<t>.<raw body>" (the exact bytes sent) keyed with the store's signing
     * secret. cartwise refuses a timestamp more than 300 s away from its clock, so every attempt
     * is signed anew.
     *
     * @param string $body the exact request body
     * @param string $secret the signing secret shown when the store was connected
     * @param int $timestamp unix seconds
     * @return string
     * @throws \InvalidArgumentException for an empty secret
     */
    public function sign(string $body, string $secret, int $timestamp): string
    {
        if ($secret === '') {
            throw new \InvalidArgumentException('The cartwise signing secret is not configured.');
        }
        $digest = hash_hmac('sha256', $timestamp . '.' . $body, $secret);
        return 't=' . $timestamp . ',v1=' . $digest;
    }
}
