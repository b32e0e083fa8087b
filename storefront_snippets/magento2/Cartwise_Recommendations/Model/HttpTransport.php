<?php
/**
 * Posts one delivery with Magento's cURL client: a fresh client per request (its headers would
 * otherwise carry over), 3 s to connect, 5 s in all, no redirects followed, and no
 * `Expect: 100-continue` (the client would read the interim 100 as the status).
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

use Magento\Framework\HTTP\Client\CurlFactory;

class HttpTransport
{
    public const CONNECT_TIMEOUT_SECONDS = 3;
    public const TIMEOUT_SECONDS = 5;

    /** @var CurlFactory */
    private $curlFactory;

    /**
     * @param CurlFactory $curlFactory
     */
    public function __construct(CurlFactory $curlFactory)
    {
        $this->curlFactory = $curlFactory;
    }

    /**
     * POST the body; never throws.
     *
     * @param string $url
     * @param array<string, string> $headers
     * @param string $body
     * @return array{status: int|null, error: string|null} status null: no answer (timeout,
     *     connection refused, DNS); error null on 2xx
     */
    public function post(string $url, array $headers, string $body): array
    {
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $lines[] = 'Expect:';
        try {
            $curl = $this->curlFactory->create();
            $curl->setTimeout(self::TIMEOUT_SECONDS);
            // User options are applied last, so this header list is the one sent.
            $curl->setOptions([
                CURLOPT_CONNECTTIMEOUT => self::CONNECT_TIMEOUT_SECONDS,
                CURLOPT_HTTPHEADER => $lines,
                CURLOPT_FOLLOWLOCATION => false,
                CURLOPT_NOSIGNAL => true,
            ]);
            $curl->post($url, $body);
            $status = (int)$curl->getStatus();
            $answer = (string)$curl->getBody();
        } catch (\Throwable $e) {
            return ['status' => null, 'error' => 'no answer: ' . $e->getMessage()];
        }
        if ($status >= 200 && $status < 300) {
            return ['status' => $status, 'error' => null];
        }
        return [
            'status' => $status > 0 ? $status : null,
            'error' => 'HTTP ' . $status . ': ' . mb_substr(trim($answer), 0, 200),
        ];
    }
}
