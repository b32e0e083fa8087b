<?php
/**
 * The JSON bodies the module posts to cartwise (`order_placed`, `cart_saved`, `product_saved`),
 * built from plain arrays: what `getData()` of an order, a quote, their items and addresses
 * gives, and a product summarised by ProductSnapshot.
 *
 * Every field is picked by name: nothing else of the order leaves the store. In particular no
 * e-mail address, name, street or phone number is sent; of an address only its country is.
 *
 * No Magento dependency: the tests run it with the plain PHP CLI and parse its output with the
 * server's own payload models.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

class PayloadBuilder
{
    /** cartwise answers 413 above 1 MiB; such a body is never queued. */
    public const MAX_BODY_BYTES = 1048576;

    /** Orders created longer ago than this are not "placed now" (imports, old orders saved). */
    public const NEW_ORDER_WINDOW_SECONDS = 1800;

    private const JSON_FLAGS = JSON_UNESCAPED_SLASHES
        | JSON_UNESCAPED_UNICODE
        | JSON_PRESERVE_ZERO_FRACTION
        | JSON_INVALID_UTF8_SUBSTITUTE
        | JSON_THROW_ON_ERROR;

    /**
     * `order_placed`: the order in the shape of `GET /V1/orders/{id}` (the fields cartwise reads).
     *
     * @param array $order the order's data (`$order->getData()`)
     * @param array[] $items the data of every item, children included (`getAllItems()`)
     * @param array|null $billing the billing address's data
     * @param array|null $shipping the shipping address's data
     * @param string $occurredAt ISO 8601, see occurredAt()
     * @return array
     */
    public static function orderPlaced(
        array $order,
        array $items,
        ?array $billing,
        ?array $shipping,
        string $occurredAt
    ): array {
        $guest = self::flag($order['customer_is_guest'] ?? null) === true;
        $payload = [
            'entity_id' => self::id($order['entity_id'] ?? null),
            'increment_id' => self::text($order['increment_id'] ?? null),
            'created_at' => self::timestamp($order['created_at'] ?? null) ?? self::utcNow(),
            'updated_at' => self::timestamp($order['updated_at'] ?? null),
            'state' => self::text($order['state'] ?? null),
            'status' => self::text($order['status'] ?? null),
            'store_id' => self::id($order['store_id'] ?? null),
            'customer_id' => $guest ? null : self::customerId($order['customer_id'] ?? null),
            'customer_is_guest' => $guest ? 1 : 0,
            'order_currency_code' => self::text($order['order_currency_code'] ?? null),
            'base_currency_code' => self::text($order['base_currency_code'] ?? null),
            'grand_total' => self::number($order['grand_total'] ?? null),
            'base_grand_total' => self::number($order['base_grand_total'] ?? null),
            'items' => array_values(array_map([self::class, 'orderItem'], array_values($items))),
        ];
        $billingCountry = self::country($billing['country_id'] ?? null);
        if ($billingCountry !== null) {
            $payload['billing_address'] = ['country_id' => $billingCountry];
        }
        $shippingCountry = self::country($shipping['country_id'] ?? null);
        if ($shippingCountry !== null) {
            $payload['extension_attributes'] = [
                'shipping_assignments' => [
                    ['shipping' => ['address' => ['country_id' => $shippingCountry]]],
                ],
            ];
        }
        return ['occurred_at' => $occurredAt, 'order' => self::withoutNulls($payload)];
    }

    /**
     * `cart_saved`: the quote with its items in quote-item shape (`qty`), children included.
     *
     * @param array $quote the quote's data (`$quote->getData()`)
     * @param array[] $items the data of every item (`getAllItems()`)
     * @param string $occurredAt ISO 8601, see occurredAt()
     * @return array
     */
    public static function cartSaved(array $quote, array $items, string $occurredAt): array
    {
        $active = self::flag($quote['is_active'] ?? null);
        $payload = [
            'id' => self::id($quote['entity_id'] ?? ($quote['id'] ?? null)),
            'created_at' => self::timestamp($quote['created_at'] ?? null),
            // The quote was just saved: the time of the save is its `updated_at` (the value
            // in memory is the one it was loaded with; the database sets the new one).
            'updated_at' => self::utcFromIso($occurredAt) ?? self::utcNow(),
            'is_active' => $active !== false,
            'customer_id' => self::customerId($quote['customer_id'] ?? null),
            'store_id' => self::id($quote['store_id'] ?? null),
            'items' => array_values(array_map([self::class, 'cartItem'], array_values($items))),
        ];
        return ['occurred_at' => $occurredAt, 'cart' => self::withoutNulls($payload)];
    }

    /**
     * `product_saved`: the product in the shape of `GET /V1/products/{sku}`, a configurable's
     * children in the same shape, the names of its categories and the media URL its images
     * are under.
     *
     * A product summary (see ProductSnapshot) holds: id, sku, name, price, status, visibility,
     * type_id, created_at, updated_at, category_ids (list), child_ids (list), stock (qty,
     * is_in_stock, manage_stock, or null), media (list of file, types, position, disabled,
     * media_type) and image (the `image` attribute).
     *
     * @param array $product the product's summary
     * @param array[] $children the summaries of a configurable's children
     * @param array[] $categories id, name, level, is_active of its categories
     * @param string|null $mediaBaseUrl e.g. https://shop.example.com/media/catalog/product
     * @param string $occurredAt ISO 8601, see occurredAt()
     * @return array
     */
    public static function productSaved(
        array $product,
        array $children,
        array $categories,
        ?string $mediaBaseUrl,
        string $occurredAt
    ): array {
        $payload = [
            'occurred_at' => $occurredAt,
            'product' => self::product($product),
            'children' => array_values(array_map([self::class, 'product'], array_values($children))),
            'categories' => array_values(array_filter(array_map(
                [self::class, 'category'],
                array_values($categories)
            ))),
        ];
        $media = self::text($mediaBaseUrl);
        if ($media !== null && preg_match('#^https?://#i', $media) === 1) {
            $payload['media_base_url'] = rtrim($media, '/');
        }
        return $payload;
    }

    /**
     * The exact bytes sent: compact JSON, slashes and non-ASCII unescaped, invalid UTF-8
     * replaced (never an exception for a product name with a broken byte).
     *
     * @param array $payload
     * @return string
     * @throws \JsonException
     */
    public static function encode(array $payload): string
    {
        return json_encode($payload, self::JSON_FLAGS);
    }

    /**
     * Now (or the given unix time) as ISO 8601 in UTC with microseconds; it orders two states of
     * the same cart or product more finely than Magento's seconds.
     *
     * @param float|null $unixTime
     * @return string e.g. 2026-03-02T09:00:01.250000+00:00
     */
    public static function occurredAt(?float $unixTime = null): string
    {
        $time = $unixTime ?? microtime(true);
        $date = \DateTimeImmutable::createFromFormat('U.u', sprintf('%.6F', $time));
        if ($date === false) {
            return gmdate('Y-m-d\TH:i:s+00:00');
        }
        return $date->setTimezone(new \DateTimeZone('UTC'))->format('Y-m-d\TH:i:s.uP');
    }

    /**
     * The event id of an order's `order_placed`: the same for every save of that order, so a
     * second save queues nothing and a resend is a duplicate for cartwise. The creation time
     * keeps two orders apart that reuse an entity id (a store whose database was reset).
     *
     * @param array $order the order's data
     * @return string
     */
    public static function orderEventId(array $order): string
    {
        $id = self::id($order['entity_id'] ?? null);
        $created = preg_replace('/\D/', '', (string)($order['created_at'] ?? ''));
        return 'order-' . ($id ?? 'unknown') . '-' . substr((string)$created, 0, 14);
    }

    /**
     * A new random event id (a version 4 UUID).
     *
     * @return string
     */
    public static function newEventId(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }

    /**
     * Whether an order created at `$createdAt` (Magento's UTC `Y-m-d H:i:s`) counts as placed
     * now: created at most NEW_ORDER_WINDOW_SECONDS ago (and not in the future beyond clock
     * skew).
     *
     * @param mixed $createdAt
     * @param int $now unix seconds
     * @return bool
     */
    public static function isNewOrder($createdAt, int $now): bool
    {
        $text = self::timestamp($createdAt);
        if ($text === null) {
            return false;
        }
        $zone = preg_match('/(Z|[+-]\d{2}:?\d{2})$/', $text) === 1 ? '' : ' UTC';
        $created = strtotime($text . $zone);
        if ($created === false) {
            return false;
        }
        return $created >= $now - self::NEW_ORDER_WINDOW_SECONDS && $created <= $now + 300;
    }

    /**
     * @param array $item
     * @return array
     */
    private static function orderItem(array $item): array
    {
        return self::withoutNulls([
            'item_id' => self::id($item['item_id'] ?? null),
            'parent_item_id' => self::id($item['parent_item_id'] ?? null),
            'product_id' => self::id($item['product_id'] ?? null),
            'product_type' => self::text($item['product_type'] ?? null),
            'sku' => self::text($item['sku'] ?? null),
            'qty_ordered' => self::number($item['qty_ordered'] ?? null),
            'price' => self::number($item['price'] ?? null),
            'base_price' => self::number($item['base_price'] ?? null),
            'row_total' => self::number($item['row_total'] ?? null),
        ]);
    }

    /**
     * @param array $item
     * @return array
     */
    private static function cartItem(array $item): array
    {
        return self::withoutNulls([
            'item_id' => self::id($item['item_id'] ?? null),
            'parent_item_id' => self::id($item['parent_item_id'] ?? null),
            'product_id' => self::id($item['product_id'] ?? null),
            'product_type' => self::text($item['product_type'] ?? null),
            'sku' => self::text($item['sku'] ?? null),
            'qty' => self::number($item['qty'] ?? null),
            'price' => self::number($item['price'] ?? null),
        ]);
    }

    /**
     * @param array $product a product summary
     * @return array
     */
    private static function product(array $product): array
    {
        $links = [];
        $position = 0;
        foreach ((array)($product['category_ids'] ?? []) as $categoryId) {
            $id = self::id($categoryId);
            if ($id !== null) {
                $links[] = ['position' => $position++, 'category_id' => (string)$id];
            }
        }
        $extension = ['category_links' => $links];
        if (($product['type_id'] ?? null) === 'configurable') {
            $extension['configurable_product_links'] = array_values(array_filter(
                array_map([self::class, 'id'], array_values((array)($product['child_ids'] ?? []))),
                static function ($id): bool {
                    return $id !== null;
                }
            ));
        }
        $stock = $product['stock'] ?? null;
        if (is_array($stock)) {
            $extension['stock_item'] = self::withoutNulls([
                'qty' => self::number($stock['qty'] ?? null),
                'is_in_stock' => self::flag($stock['is_in_stock'] ?? null),
                'manage_stock' => self::flag($stock['manage_stock'] ?? null),
            ]);
        }
        $media = [];
        foreach ((array)($product['media'] ?? []) as $entry) {
            if (!is_array($entry) || self::text($entry['file'] ?? null) === null) {
                continue;
            }
            $media[] = [
                'file' => self::text($entry['file']),
                'media_type' => self::text($entry['media_type'] ?? null) ?? 'image',
                'types' => array_values(array_filter(array_map(
                    [self::class, 'text'],
                    (array)($entry['types'] ?? [])
                ))),
                'position' => (int)($entry['position'] ?? 0),
                'disabled' => self::flag($entry['disabled'] ?? null) === true,
            ];
        }
        $payload = [
            'id' => self::id($product['id'] ?? null),
            'sku' => self::text($product['sku'] ?? null) ?? '',
            'name' => self::text($product['name'] ?? null) ?? '',
            'price' => self::number($product['price'] ?? null),
            'status' => self::smallInt($product['status'] ?? null),
            'visibility' => self::smallInt($product['visibility'] ?? null),
            'type_id' => self::text($product['type_id'] ?? null) ?? 'simple',
            'created_at' => self::timestamp($product['created_at'] ?? null),
            'updated_at' => self::timestamp($product['updated_at'] ?? null),
            'extension_attributes' => $extension,
            'media_gallery_entries' => $media,
        ];
        $image = self::text($product['image'] ?? null);
        if ($image !== null && $image !== 'no_selection') {
            $payload['custom_attributes'] = [['attribute_code' => 'image', 'value' => $image]];
        }
        return self::withoutNulls($payload);
    }

    /**
     * @param mixed $category
     * @return array|null
     */
    private static function category($category): ?array
    {
        if (!is_array($category)) {
            return null;
        }
        $id = self::id($category['id'] ?? null);
        if ($id === null) {
            return null;
        }
        return self::withoutNulls([
            'id' => $id,
            'name' => self::text($category['name'] ?? null) ?? '',
            'level' => self::smallInt($category['level'] ?? null),
            'is_active' => self::flag($category['is_active'] ?? null) ?? true,
        ]);
    }

    /**
     * An entity id as an integer (a decimal string when beyond PHP's integers); null when absent
     * or not a whole number.
     *
     * @param mixed $value
     * @return int|string|null
     */
    private static function id($value)
    {
        if (is_int($value)) {
            return $value >= 0 ? $value : null;
        }
        if (is_float($value) && floor($value) === $value && $value >= 0) {
            return (int)$value;
        }
        if (is_string($value) && preg_match('/^\s*(\d{1,20})\s*$/', $value, $match) === 1) {
            $digits = ltrim($match[1], '0');
            $digits = $digits === '' ? '0' : $digits;
            $asInt = (int)$digits;
            return (string)$asInt === $digits ? $asInt : $digits;
        }
        return null;
    }

    /**
     * A customer id; a guest's (null, 0 or empty) is null.
     *
     * @param mixed $value
     * @return int|string|null
     */
    private static function customerId($value)
    {
        $id = self::id($value);
        return ($id === 0 || $id === '0') ? null : $id;
    }

    /**
     * @param mixed $value
     * @return float|null
     */
    private static function number($value): ?float
    {
        if (is_int($value) || is_float($value)) {
            return is_finite((float)$value) ? (float)$value : null;
        }
        if (is_string($value) && is_numeric(trim($value))) {
            $number = (float)trim($value);
            return is_finite($number) ? $number : null;
        }
        return null;
    }

    /**
     * @param mixed $value
     * @return int|null
     */
    private static function smallInt($value): ?int
    {
        if (is_int($value)) {
            return $value;
        }
        if (is_string($value) && preg_match('/^\s*-?\d{1,9}\s*$/', $value) === 1) {
            return (int)trim($value);
        }
        return null;
    }

    /**
     * @param mixed $value
     * @return bool|null
     */
    private static function flag($value): ?bool
    {
        if (is_bool($value)) {
            return $value;
        }
        if ($value === 1 || $value === '1' || $value === 'true') {
            return true;
        }
        if ($value === 0 || $value === '0' || $value === 'false' || $value === '') {
            return false;
        }
        return null;
    }

    /**
     * @param mixed $value
     * @return string|null trimmed; null when empty or not text
     */
    private static function text($value): ?string
    {
        if (is_int($value) || is_float($value)) {
            return (string)$value;
        }
        if (!is_string($value)) {
            return null;
        }
        $text = trim($value);
        return $text === '' ? null : $text;
    }

    /**
     * Magento's `Y-m-d H:i:s` (UTC) or ISO 8601, as given; null when empty or not a timestamp.
     *
     * @param mixed $value
     * @return string|null
     */
    private static function timestamp($value): ?string
    {
        if ($value instanceof \DateTimeInterface) {
            return $value->setTimezone(new \DateTimeZone('UTC'))->format('Y-m-d H:i:s');
        }
        $text = self::text(is_string($value) ? $value : null);
        if ($text === null || preg_match('/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/', $text) !== 1) {
            return null;
        }
        return $text;
    }

    /**
     * @param mixed $value
     * @return string|null a two-letter country code, upper case
     */
    private static function country($value): ?string
    {
        $text = self::text($value);
        return ($text !== null && preg_match('/^[A-Za-z]{2}$/', $text) === 1) ? strtoupper($text) : null;
    }

    /**
     * @param string $iso
     * @return string|null the same instant as Magento's UTC `Y-m-d H:i:s`
     */
    private static function utcFromIso(string $iso): ?string
    {
        try {
            $date = new \DateTimeImmutable($iso);
        } catch (\Exception $e) {
            return null;
        }
        return $date->setTimezone(new \DateTimeZone('UTC'))->format('Y-m-d H:i:s');
    }

    /**
     * @return string
     */
    private static function utcNow(): string
    {
        return gmdate('Y-m-d H:i:s');
    }

    /**
     * @param array $values
     * @return array the same without null values
     */
    private static function withoutNulls(array $values): array
    {
        return array_filter($values, static function ($value): bool {
            return $value !== null;
        });
    }
}
