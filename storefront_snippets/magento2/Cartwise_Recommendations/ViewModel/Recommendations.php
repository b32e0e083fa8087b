<?php
/**
 * What the cart block's template needs: whether to render at all, the height it reserves, its
 * title, and the settings of the JS component that fills it (recommendations.js).
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\ViewModel;

use Cartwise\Recommendations\Model\Config;
use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\Data\Form\FormKey;
use Magento\Framework\UrlInterface;
use Magento\Framework\View\Element\Block\ArgumentInterface;
use Magento\Store\Model\ScopeInterface;
use Magento\Store\Model\StoreManagerInterface;

class Recommendations implements ArgumentInterface
{
    /** @var Config */
    private $config;

    /** @var StoreManagerInterface */
    private $storeManager;

    /** @var UrlInterface */
    private $urlBuilder;

    /** @var FormKey */
    private $formKey;

    /** @var ScopeConfigInterface */
    private $scopeConfig;

    /**
     * @param Config $config
     * @param StoreManagerInterface $storeManager
     * @param UrlInterface $urlBuilder
     * @param FormKey $formKey
     * @param ScopeConfigInterface $scopeConfig
     */
    public function __construct(
        Config $config,
        StoreManagerInterface $storeManager,
        UrlInterface $urlBuilder,
        FormKey $formKey,
        ScopeConfigInterface $scopeConfig
    ) {
        $this->config = $config;
        $this->storeManager = $storeManager;
        $this->urlBuilder = $urlBuilder;
        $this->formKey = $formKey;
        $this->scopeConfig = $scopeConfig;
    }

    /**
     * Whether the block renders: the module is enabled with an API URL and a storefront key.
     *
     * @return bool
     */
    public function isEnabled(): bool
    {
        return $this->config->showsBlock();
    }

    /**
     * The mount node's id (the x-magento-init selector).
     *
     * @return string
     */
    public function getMountId(): string
    {
        return 'cartwise-recommendations';
    }

    /**
     * @return int px
     */
    public function getReservedHeight(): int
    {
        return $this->config->getReservedHeight();
    }

    /**
     * @return string
     */
    public function getTitle(): string
    {
        return (string)__('You may also like');
    }

    /**
     * The component's settings. The storefront key is meant to be public: it can only ask for
     * recommendations and report storefront events of this shop.
     *
     * @return array
     */
    public function getComponentConfig(): array
    {
        $store = $this->storeManager->getStore();
        $locale = (string)$this->scopeConfig->getValue('general/locale/code', ScopeInterface::SCOPE_STORE);
        return [
            'apiUrl' => $this->config->getApiUrl(),
            'apiKey' => $this->config->getApiKey(),
            'k' => $this->config->getItemCount(),
            'budgetMs' => $this->config->getBudgetMs(),
            'placement' => 'cart',
            'addUrl' => $this->urlBuilder->getUrl('checkout/cart/add'),
            'productUrl' => $this->urlBuilder->getUrl('catalog/product/view'),
            'formKey' => $this->formKey->getFormKey(),
            // cartwise's prices are the catalog's, in the base currency.
            'currency' => method_exists($store, 'getBaseCurrencyCode') ? (string)$store->getBaseCurrencyCode() : '',
            'locale' => str_replace('_', '-', $locale),
            'labels' => [
                'add' => (string)__('Add to Cart'),
                'options' => (string)__('Choose Options'),
            ],
        ];
    }
}
