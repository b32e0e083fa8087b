<?php
/**
 * Turns an order, a cart or a product that was just saved into an outbox row. Called by the
 * observers, which catch and log anything it throws: queueing an event never breaks or slows
 * a checkout beyond one small INSERT (a SELECT first, for orders).
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

use Magento\Catalog\Model\Product;
use Magento\ConfigurableProduct\Model\Product\Type\Configurable;
use Magento\Quote\Model\Quote;
use Magento\Sales\Model\Order;
use Psr\Log\LoggerInterface;

class EventQueue
{
    private const VISIBILITY_NOT_VISIBLE = 1;

    /** @var Config */
    private $config;

    /** @var Outbox */
    private $outbox;

    /** @var Configurable */
    private $configurableType;

    /** @var LoggerInterface */
    private $logger;

    /**
     * @param Config $config
     * @param Outbox $outbox
     * @param Configurable $configurableType
     * @param LoggerInterface $logger
     */
    public function __construct(
        Config $config,
        Outbox $outbox,
        Configurable $configurableType,
        LoggerInterface $logger
    ) {
        $this->config = $config;
        $this->outbox = $outbox;
        $this->configurableType = $configurableType;
        $this->logger = $logger;
    }

    /**
     * Queue `order_placed` for an order committed just now. Every later save of the order
     * (invoice, shipment, status) fires the same event; those find its event id queued already,
     * and orders created long ago (imports, old orders edited) are not "placed".
     *
     * @param Order $order
     * @return void
     */
    public function order(Order $order): void
    {
        if (!$order->getEntityId()) {
            return;
        }
        $storeId = (int)$order->getStoreId();
        if (!$this->config->sendsEvents($storeId)) {
            return;
        }
        $data = (array)$order->getData();
        if (!PayloadBuilder::isNewOrder($data['created_at'] ?? null, time())) {
            return;
        }
        $eventId = PayloadBuilder::orderEventId($data);
        if ($this->outbox->has($eventId)) {
            return;
        }
        $items = [];
        foreach ($order->getAllItems() as $item) {
            $items[] = $this->itemData($item);
        }
        $billing = $order->getBillingAddress();
        $shipping = $order->getShippingAddress();
        $payload = PayloadBuilder::orderPlaced(
            $data,
            $items,
            $billing ? (array)$billing->getData() : null,
            $shipping ? (array)$shipping->getData() : null,
            PayloadBuilder::occurredAt()
        );
        $this->queue('order_placed', $eventId, $storeId, (int)$order->getEntityId(), $payload, null, ['event_id']);
    }

    /**
     * Queue `cart_saved` for a cart the shopper just changed; a cart saved again before it was
     * sent replaces its queued state.
     *
     * @param Quote $quote
     * @return void
     */
    public function cart(Quote $quote): void
    {
        if (!$quote->getId()) {
            return;
        }
        $storeId = (int)$quote->getStoreId();
        if (!$this->config->sendsEvents($storeId)) {
            return;
        }
        $items = [];
        foreach ($quote->getAllItems() as $item) {
            $items[] = $this->itemData($item);
        }
        $payload = PayloadBuilder::cartSaved((array)$quote->getData(), $items, PayloadBuilder::occurredAt());
        $this->queue(
            'cart_saved',
            PayloadBuilder::newEventId(),
            $storeId,
            (int)$quote->getId(),
            $payload,
            'cart:' . (int)$quote->getId(),
            ['event_id', 'body']
        );
    }

    /**
     * Queue `product_saved` for a product (summarised when sent). A simple product "Not Visible
     * Individually" is a variant: its configurables are queued instead.
     *
     * @param Product $product
     * @return void
     */
    public function product(Product $product): void
    {
        $productId = (int)$product->getId();
        if (!$productId || !$this->config->sendsEvents(0)) {
            return;
        }
        $ids = [$productId];
        if ($product->getTypeId() !== 'configurable'
            && (int)$product->getVisibility() === self::VISIBILITY_NOT_VISIBLE
        ) {
            $parents = array_map('intval', (array)$this->configurableType->getParentIdsByChild($productId));
            if ($parents) {
                $ids = array_values(array_unique($parents));
            }
        }
        foreach ($ids as $id) {
            $this->outbox->add(
                'product_saved',
                PayloadBuilder::newEventId(),
                0,
                $id,
                null,
                'product:' . $id,
                ['pending_key']
            );
        }
    }

    /**
     * @param string $event
     * @param string $eventId
     * @param int $storeId
     * @param int $resourceId
     * @param array $payload
     * @param string|null $pendingKey
     * @param string[] $replace
     * @return void
     * @throws \JsonException
     */
    private function queue(
        string $event,
        string $eventId,
        int $storeId,
        int $resourceId,
        array $payload,
        ?string $pendingKey,
        array $replace
    ): void {
        $body = PayloadBuilder::encode($payload);
        if (strlen($body) > PayloadBuilder::MAX_BODY_BYTES) {
            $this->logger->warning(sprintf(
                'cartwise: %s %d not queued: its body is %d bytes, over the 1 MiB cartwise accepts',
                $event,
                $resourceId,
                strlen($body)
            ));
            return;
        }
        $this->outbox->add($event, $eventId, $storeId, $resourceId, $body, $pendingKey, $replace);
    }

    /**
     * An order or quote item's data, with its parent's id even when the item was saved before
     * the parent's id was copied onto it.
     *
     * @param \Magento\Framework\DataObject $item
     * @return array
     */
    private function itemData($item): array
    {
        $data = (array)$item->getData();
        if (empty($data['parent_item_id']) && method_exists($item, 'getParentItem')) {
            $parent = $item->getParentItem();
            if ($parent && $parent->getId()) {
                $data['parent_item_id'] = $parent->getId();
            }
        }
        return $data;
    }
}
