<?php
/**
 * The URL and headers of one delivery to cartwise's `POST /webhooks/magento` (docs/magento.md,
 * "The intake protocol"): the shop key, the event, its id (the same on every attempt, so a
 * resend is stored once), the signature over the exact body, and the module's version.
 *
 * No Magento dependency: the tests build requests with it through the plain PHP CLI and post
 * them to a running cartwise server.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

class DeliveryRequest
{
    public const MODULE_VERSION = '1.0.0';
    public const EVENTS = ['order_placed', 'cart_saved', 'product_saved'];
    public const PATH = '/webhooks/magento';

    /** @var Signer */
    private $signer;

    /**
     * @param Signer $signer
     */
    public function __construct(Signer $signer)
    {
        $this->signer = $signer;
    }

    /**
     * The webhook URL of a cartwise server given its base URL (the module's "API URL").
     *
     * @param string $apiUrl e.g. https://cartwise.example.com
     * @return string
     */
    public static function url(string $apiUrl): string
    {
        return rtrim(trim($apiUrl), '/') . self::PATH;
    }

    /**
     * The request headers, signed at `$timestamp`.
     *
     * @param string $storeKey the shop key cartwise gave when the store was connected
     * @param string $secret the signing secret
     * @param string $event order_placed, cart_saved or product_saved
     * @param string $eventId the row's event id
     * @param string $body the exact body sent
     * @param int $timestamp unix seconds, now
     * @return array<string, string>
     * @throws \InvalidArgumentException for an unknown event, an empty store key or secret
     */
    public function headers(
        string $storeKey,
        string $secret,
        string $event,
        string $eventId,
        string $body,
        int $timestamp
    ): array {
        if (!in_array($event, self::EVENTS, true)) {
            throw new \InvalidArgumentException('Unknown cartwise event: ' . $event);
        }
        if (trim($storeKey) === '') {
            throw new \InvalidArgumentException('The cartwise store key is not configured.');
        }
        if ($eventId === '' || strlen($eventId) > 255) {
            throw new \InvalidArgumentException('The event id must have 1 to 255 characters.');
        }
        return [
            'Content-Type' => 'application/json',
            'X-Cartwise-Store' => trim($storeKey),
            'X-Cartwise-Event' => $event,
            'X-Cartwise-Event-Id' => $eventId,
            'X-Cartwise-Signature' => $this->signer->sign($body, $secret, $timestamp),
            'X-Cartwise-Module' => 'magento2/' . self::MODULE_VERSION,
        ];
    }
}
