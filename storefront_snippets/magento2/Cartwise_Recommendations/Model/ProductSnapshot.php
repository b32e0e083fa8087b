<?php
/**
 * A product's `product_saved` body, built when the cron job sends it (not in the admin's save
 * request): the product as the catalog has it then, a configurable's children, the names of
 * its categories, stock from the CatalogInventory stock item, and the media URL.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

use Magento\Catalog\Api\Data\ProductInterface;
use Magento\Catalog\Api\ProductRepositoryInterface;
use Magento\Catalog\Model\ResourceModel\Category\CollectionFactory as CategoryCollectionFactory;
use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory as ProductCollectionFactory;
use Magento\CatalogInventory\Api\StockRegistryInterface;
use Magento\Framework\Exception\NoSuchEntityException;
use Magento\Framework\UrlInterface;
use Magento\Store\Model\StoreManagerInterface;
use Psr\Log\LoggerInterface;

class ProductSnapshot
{
    /** A configurable with more children than this is sent with the first ones only. */
    private const MAX_CHILDREN = 500;

    /** @var ProductRepositoryInterface */
    private $productRepository;

    /** @var ProductCollectionFactory */
    private $productCollectionFactory;

    /** @var CategoryCollectionFactory */
    private $categoryCollectionFactory;

    /** @var StockRegistryInterface */
    private $stockRegistry;

    /** @var StoreManagerInterface */
    private $storeManager;

    /** @var LoggerInterface */
    private $logger;

    /**
     * @param ProductRepositoryInterface $productRepository
     * @param ProductCollectionFactory $productCollectionFactory
     * @param CategoryCollectionFactory $categoryCollectionFactory
     * @param StockRegistryInterface $stockRegistry
     * @param StoreManagerInterface $storeManager
     * @param LoggerInterface $logger
     */
    public function __construct(
        ProductRepositoryInterface $productRepository,
        ProductCollectionFactory $productCollectionFactory,
        CategoryCollectionFactory $categoryCollectionFactory,
        StockRegistryInterface $stockRegistry,
        StoreManagerInterface $storeManager,
        LoggerInterface $logger
    ) {
        $this->productRepository = $productRepository;
        $this->productCollectionFactory = $productCollectionFactory;
        $this->categoryCollectionFactory = $categoryCollectionFactory;
        $this->stockRegistry = $stockRegistry;
        $this->storeManager = $storeManager;
        $this->logger = $logger;
    }

    /**
     * The body of a product's `product_saved`; null when the product no longer exists.
     *
     * @param int $productId
     * @param int $storeId 0: the default (admin) values
     * @param string $occurredAt
     * @return array|null
     */
    public function payload(int $productId, int $storeId, string $occurredAt): ?array
    {
        try {
            $product = $this->productRepository->getById($productId, false, $storeId, true);
        } catch (NoSuchEntityException $e) {
            return null;
        }
        $childIds = [];
        $children = [];
        if ($product->getTypeId() === 'configurable' && method_exists($product, 'getTypeInstance')) {
            $ids = $product->getTypeInstance()->getChildrenIds((int)$product->getId());
            $childIds = array_slice(array_map('intval', array_values($ids[0] ?? [])), 0, self::MAX_CHILDREN);
            if ($childIds) {
                $collection = $this->productCollectionFactory->create();
                $collection->setStoreId($storeId)
                    ->addAttributeToSelect(['name', 'price', 'status', 'visibility', 'image'])
                    ->addIdFilter($childIds);
                foreach ($collection as $child) {
                    $children[] = $this->summary($child, []);
                }
            }
        }
        $summary = $this->summary($product, $childIds);
        $summary['media'] = $this->media($product);
        return PayloadBuilder::productSaved(
            $summary,
            $children,
            $this->categories($summary['category_ids'], $storeId),
            $this->mediaBaseUrl($storeId),
            $occurredAt
        );
    }

    /**
     * @param ProductInterface $product
     * @param int[] $childIds
     * @return array
     */
    private function summary(ProductInterface $product, array $childIds): array
    {
        $categoryIds = method_exists($product, 'getCategoryIds') ? (array)$product->getCategoryIds() : [];
        return [
            'id' => $product->getId(),
            'sku' => $product->getSku(),
            'name' => $product->getName(),
            'price' => $product->getPrice(),
            'status' => $product->getStatus(),
            'visibility' => $product->getVisibility(),
            'type_id' => $product->getTypeId(),
            'created_at' => $product->getCreatedAt(),
            'updated_at' => $product->getUpdatedAt(),
            'category_ids' => $categoryIds,
            'child_ids' => $childIds,
            'stock' => $this->stock((int)$product->getId()),
            'image' => method_exists($product, 'getData') ? $product->getData('image') : null,
        ];
    }

    /**
     * @param int $productId
     * @return array|null
     */
    private function stock(int $productId): ?array
    {
        try {
            $item = $this->stockRegistry->getStockItem($productId);
        } catch (\Throwable $e) {
            return null;
        }
        if (!$item || !$item->getItemId()) {
            return null;
        }
        return [
            'qty' => $item->getQty(),
            'is_in_stock' => (bool)$item->getIsInStock(),
            'manage_stock' => (bool)$item->getManageStock(),
        ];
    }

    /**
     * @param ProductInterface $product
     * @return array[]
     */
    private function media(ProductInterface $product): array
    {
        $entries = [];
        foreach ((array)$product->getMediaGalleryEntries() as $entry) {
            $entries[] = [
                'file' => $entry->getFile(),
                'media_type' => $entry->getMediaType(),
                'types' => (array)$entry->getTypes(),
                'position' => (int)$entry->getPosition(),
                'disabled' => (bool)$entry->isDisabled(),
            ];
        }
        return $entries;
    }

    /**
     * @param array $ids
     * @param int $storeId
     * @return array[]
     */
    private function categories(array $ids, int $storeId): array
    {
        $ids = array_values(array_filter(array_map('intval', $ids)));
        if (!$ids) {
            return [];
        }
        $collection = $this->categoryCollectionFactory->create();
        $collection->setStoreId($storeId)
            ->addAttributeToSelect(['name', 'is_active'])
            ->addIdFilter($ids);
        $categories = [];
        foreach ($collection as $category) {
            $categories[] = [
                'id' => $category->getId(),
                'name' => $category->getName(),
                'level' => $category->getLevel(),
                'is_active' => $category->getIsActive(),
            ];
        }
        return $categories;
    }

    /**
     * @param int $storeId
     * @return string|null
     */
    private function mediaBaseUrl(int $storeId): ?string
    {
        try {
            $store = $storeId > 0
                ? $this->storeManager->getStore($storeId)
                : $this->storeManager->getDefaultStoreView();
            if ($store === null) {
                return null;
            }
            return rtrim($store->getBaseUrl(UrlInterface::URL_TYPE_MEDIA), '/') . '/catalog/product';
        } catch (\Throwable $e) {
            $this->logger->warning('cartwise: no media URL for store ' . $storeId . ': ' . $e->getMessage());
            return null;
        }
    }
}
