<?php
/**
 * `checkout_cart_save_after` (the storefront cart; REST and GraphQL carts do not fire it):
 * queues `cart_saved` with the cart's current items.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Observer;

use Cartwise\Recommendations\Model\EventQueue;
use Magento\Framework\Event\Observer;
use Magento\Framework\Event\ObserverInterface;
use Magento\Quote\Model\Quote;
use Psr\Log\LoggerInterface;

class CartSaved implements ObserverInterface
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
            $cart = $observer->getEvent()->getData('cart');
            $quote = $cart ? $cart->getQuote() : null;
            if ($quote instanceof Quote) {
                $this->queue->cart($quote);
            }
        } catch (\Throwable $e) {
            $this->logger->error('cartwise: could not queue cart_saved: ' . $e->getMessage());
        }
    }
}
