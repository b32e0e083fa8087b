<?php
/**
 * `catalog_product_save_commit_after`: queues `product_saved` (built by the cron job, so the
 * admin's save request does no more than one INSERT).
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Observer;

use Cartwise\Recommendations\Model\EventQueue;
use Magento\Catalog\Model\Product;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Psr\Log\LoggerInterface;

class ProductSaved implements ObserverInterface
{
    /** @var EventQueue */
    private $queue;

    /** @var LoggerInterface */
    private $logger;

    /**
     * @param EventQueue $queue
     * @param LoggerInterface $logger
     */
    public function __construct(EventQueue $queue, LoggerInterface $logger)
    {
        $this->queue = $queue;
        $this->logger = $logger;
    }

    /**
     * @param Observer $observer
     * @return void
     */
    public function execute(Observer $observer)
    {
        try {
            $product = $observer->getEvent()->getData('product');
            if ($product instanceof Product) {
                $this->queue->product($product);
            }
        } catch (\Throwable $e) {
            $this->logger->error('cartwise: could not queue product_saved: ' . $e->getMessage());
        }
    }
}
