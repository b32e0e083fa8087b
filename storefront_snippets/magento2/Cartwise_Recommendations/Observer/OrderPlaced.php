<?php
/**
 * `sales_order_save_commit_after`: queues `order_placed` once the order is in the database.
 *
 * Why this event and not `checkout_submit_all_after`: commit callbacks run only once the
 * outermost transaction has committed, so a rolled-back order is never sent, and the event fires
 * for orders saved by any code: storefront, REST and GraphQL checkout, admin-created orders,
 * multishipping, and also `POST /V1/orders` or a connector that saves orders directly.
 * `checkout_submit_all_after` is dispatched only by the checkout code paths, right after the
 * save and inside any transaction a caller may still hold open, and multishipping passes
 * `orders` instead of `order`. The price is that `sales_order_save_commit_after` fires on
 * every later save of the order too (invoice, shipment, status); EventQueue::order() recognises
 * those and queues nothing.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Observer;

use Cartwise\Recommendations\Model\EventQueue;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Sales\Model\Order;
use Psr\Log\LoggerInterface;

class OrderPlaced implements ObserverInterface
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
            $order = $observer->getEvent()->getData('order');
            if ($order instanceof Order) {
                $this->queue->order($order);
            }
        } catch (\Throwable $e) {
            $this->logger->error('cartwise: could not queue order_placed: ' . $e->getMessage());
        }
    }
}
