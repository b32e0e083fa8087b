<?php
/**
 * The module's settings (Stores > Configuration > Cartwise > Recommendations), read per store
 * view: a multi-store install may connect each store view to cartwise with its own shop key.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\Encryption\EncryptorInterface;
use Magento\Store\Model\ScopeInterface;

class Config
{
    public const XML_PATH_ENABLED = 'cartwise/general/enabled';
    public const XML_PATH_API_URL = 'cartwise/general/api_url';
    public const XML_PATH_API_KEY = 'cartwise/storefront/api_key';
    public const XML_PATH_ITEMS = 'cartwise/storefront/items';
    public const XML_PATH_BUDGET_MS = 'cartwise/storefront/budget_ms';
    public const XML_PATH_HEIGHT = 'cartwise/storefront/height';
    public const XML_PATH_STORE_KEY = 'cartwise/events/store_key';
    public const XML_PATH_SIGNING_SECRET = 'cartwise/events/signing_secret';

    /** @var ScopeConfigInterface */
    private $scopeConfig;

    /** @var EncryptorInterface */
    private $encryptor;

    /**
     * @param ScopeConfigInterface $scopeConfig
     * @param EncryptorInterface $encryptor
     */
    public function __construct(ScopeConfigInterface $scopeConfig, EncryptorInterface $encryptor)
    {
        $this->scopeConfig = $scopeConfig;
        $this->encryptor = $encryptor;
    }

    /**
     * @param int|null $storeId null: the current store
     * @return bool
     */
    public function isEnabled(?int $storeId = null): bool
    {
        return $this->scopeConfig->isSetFlag(self::XML_PATH_ENABLED, ScopeInterface::SCOPE_STORE, $storeId);
    }

    /**
     * The cartwise server's base URL, without a trailing slash.
     *
     * @param int|null $storeId
     * @return string
     */
    public function getApiUrl(?int $storeId = null): string
    {
        return rtrim($this->text(self::XML_PATH_API_URL, $storeId), '/');
    }

    /**
     * The storefront-scoped API key (it is visible in the page, as every storefront key is).
     *
     * @param int|null $storeId
     * @return string
     */
    public function getApiKey(?int $storeId = null): string
    {
        return $this->text(self::XML_PATH_API_KEY, $storeId);
    }

    /**
     * How many products the cart block shows, 1 to 20.
     *
     * @param int|null $storeId
     * @return int
     */
    public function getItemCount(?int $storeId = null): int
    {
        return $this->bounded(self::XML_PATH_ITEMS, $storeId, 4, 1, 20);
    }

    /**
     * How long the cart block waits for cartwise before it gives up and collapses, in ms.
     *
     * @param int|null $storeId
     * @return int
     */
    public function getBudgetMs(?int $storeId = null): int
    {
        return $this->bounded(self::XML_PATH_BUDGET_MS, $storeId, 300, 50, 5000);
    }

    /**
     * The height the cart block reserves while it loads (and keeps once filled), in px.
     *
     * @param int|null $storeId
     * @return int
     */
    public function getReservedHeight(?int $storeId = null): int
    {
        return $this->bounded(self::XML_PATH_HEIGHT, $storeId, 380, 120, 2000);
    }

    /**
     * The shop key cartwise gave when the store was connected (the store's host, or
     * host/store_code).
     *
     * @param int|null $storeId
     * @return string
     */
    public function getStoreKey(?int $storeId = null): string
    {
        return $this->text(self::XML_PATH_STORE_KEY, $storeId);
    }

    /**
     * The signing secret, decrypted (it is stored encrypted).
     *
     * @param int|null $storeId
     * @return string
     */
    public function getSigningSecret(?int $storeId = null): string
    {
        $stored = $this->text(self::XML_PATH_SIGNING_SECRET, $storeId);
        return $stored === '' ? '' : trim((string)$this->encryptor->decrypt($stored));
    }

    /**
     * Whether the cart block can be shown: enabled, with an API URL and a storefront key.
     *
     * @param int|null $storeId
     * @return bool
     */
    public function showsBlock(?int $storeId = null): bool
    {
        return $this->isEnabled($storeId) && $this->getApiUrl($storeId) !== '' && $this->getApiKey($storeId) !== '';
    }

    /**
     * Whether events are queued for a store: enabled, with an API URL and a store key (the
     * secret is checked when sending, so that events queued before it was entered still go).
     *
     * @param int|null $storeId
     * @return bool
     */
    public function sendsEvents(?int $storeId = null): bool
    {
        return $this->isEnabled($storeId) && $this->getApiUrl($storeId) !== '' && $this->getStoreKey($storeId) !== '';
    }

    /**
     * Where and as whom a store's events are delivered; null while any of it is missing.
     *
     * @param int $storeId
     * @return array{api_url: string, store_key: string, secret: string}|null
     */
    public function delivery(int $storeId): ?array
    {
        if (!$this->isEnabled($storeId)) {
            return null;
        }
        $settings = [
            'api_url' => $this->getApiUrl($storeId),
            'store_key' => $this->getStoreKey($storeId),
            'secret' => $this->getSigningSecret($storeId),
        ];
        return in_array('', $settings, true) ? null : $settings;
    }

    /**
     * @param string $path
     * @param int|null $storeId
     * @return string
     */
    private function text(string $path, ?int $storeId): string
    {
        return trim((string)$this->scopeConfig->getValue($path, ScopeInterface::SCOPE_STORE, $storeId));
    }

    /**
     * @param string $path
     * @param int|null $storeId
     * @param int $default
     * @param int $min
     * @param int $max
     * @return int
     */
    private function bounded(string $path, ?int $storeId, int $default, int $min, int $max): int
    {
        $value = $this->text($path, $storeId);
        if ($value === '' || !ctype_digit($value)) {
            return $default;
        }
        return max($min, min($max, (int)$value));
    }
}
