<?php
// Observers -> outbox -> cron -> transport, run with the stand-ins of magento_stubs.php instead of
// Magento (tests/test_magento_module.py). Usage: php flow.php magento_stubs.php <module dir> < in.json
declare(strict_types=1);

require $argv[1];
$module = $argv[2];
spl_autoload_register(static function (string $class) use ($module): void {
    $prefix = 'Cartwise\\Recommendations\\';
    if (strpos($class, $prefix) === 0) {
        require $module . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    }
});

use Cartwise\Recommendations\Cron\SendOutbox;
use Cartwise\Recommendations\Model\Config;
use Cartwise\Recommendations\Model\DeliveryRequest;
use Cartwise\Recommendations\Model\EventQueue;
use Cartwise\Recommendations\Model\HttpTransport;
use Cartwise\Recommendations\Model\Outbox;
use Cartwise\Recommendations\Model\ProductSnapshot;
use Cartwise\Recommendations\Model\RetryPolicy;
use Cartwise\Recommendations\Model\Signer;
use Cartwise\Recommendations\Observer\CartSaved;
use Cartwise\Recommendations\Observer\OrderPlaced;
use Cartwise\Recommendations\Observer\ProductSaved;
use Magento\Catalog\Api\ProductRepositoryInterface;
use Magento\Catalog\Model\Product;
use Magento\Catalog\Model\ResourceModel\Category\CollectionFactory as CategoryCollectionFactory;
use Magento\Catalog\Model\ResourceModel\Product\CollectionFactory as ProductCollectionFactory;
use Magento\CatalogInventory\Api\StockRegistryInterface;
use Magento\ConfigurableProduct\Model\Product\Type\Configurable;
use Magento\Framework\App\Config\ScopeConfigInterface;
use Magento\Framework\App\ResourceConnection;
use Magento\Framework\Encryption\EncryptorInterface;
use Magento\Framework\Event\Observer;
use Magento\Framework\Exception\NoSuchEntityException;
use Magento\Framework\HTTP\Client\Curl;
use Magento\Framework\HTTP\Client\CurlFactory;
use Magento\Framework\Lock\LockManagerInterface;
use Magento\Quote\Model\Quote;
use Magento\Sales\Model\Order;
use Magento\Store\Model\StoreManagerInterface;
use Psr\Log\LoggerInterface;

final class Logger implements LoggerInterface
{
    public $lines = [];

    public function error($message, array $context = [])
    {
        $this->lines[] = ['error', (string)$message];
    }

    public function warning($message, array $context = [])
    {
        $this->lines[] = ['warning', (string)$message];
    }

    public function info($message, array $context = [])
    {
        $this->lines[] = ['info', (string)$message];
    }
}

final class ScopeConfig implements ScopeConfigInterface
{
    public $values = [];

    public function getValue($path, $scopeType = 'default', $scopeCode = null)
    {
        return $this->values[$path] ?? null;
    }

    public function isSetFlag($path, $scopeType = 'default', $scopeCode = null)
    {
        return (bool)$this->getValue($path, $scopeType, $scopeCode);
    }
}

final class Encryptor implements EncryptorInterface
{
    public function decrypt($data)
    {
        return strpos((string)$data, 'enc:') === 0 ? substr((string)$data, 4) : '';
    }
}

final class Locks implements LockManagerInterface
{
    public $held = false;

    public function lock(string $name, int $timeout = -1): bool
    {
        if ($this->held) {
            return false;
        }
        $this->held = true;
        return true;
    }

    public function unlock(string $name): bool
    {
        $this->held = false;
        return true;
    }
}

final class Repository implements ProductRepositoryInterface
{
    public $products = [];

    public function getById($productId, $editMode = false, $storeId = null, $forceReload = false)
    {
        if (!isset($this->products[$productId])) {
            throw new NoSuchEntityException('no product ' . $productId);
        }
        return $this->products[$productId];
    }
}

final class Stock implements StockRegistryInterface
{
    public function getStockItem($productId, $scopeId = null)
    {
        $qty = ['56' => 0, '57' => 7][(string)$productId] ?? 0;
        return new FakeDataObject([
            'item_id' => $productId, 'qty' => $qty, 'is_in_stock' => $qty > 0, 'manage_stock' => true,
        ]);
    }
}

final class Stores implements StoreManagerInterface
{
    public function getStore($storeId = null)
    {
        return new FakeStore();
    }

    public function getDefaultStoreView()
    {
        return new FakeStore();
    }
}

final class CartHolder
{
    private $quote;

    public function __construct($quote)
    {
        $this->quote = $quote;
    }

    public function getQuote()
    {
        return $this->quote;
    }
}

function rows(ResourceConnection $resource): array
{
    return array_values($resource->connection->rows);
}

$in = json_decode((string)stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$out = [];

$scopeConfig = new ScopeConfig();
$scopeConfig->values = [
    'cartwise/general/enabled' => '1',
    'cartwise/general/api_url' => $in['api_url'],
    'cartwise/events/store_key' => $in['store_key'],
    'cartwise/events/signing_secret' => 'enc:' . $in['secret'],
];
$resource = new ResourceConnection();
$logger = new Logger();
$config = new Config($scopeConfig, new Encryptor());
$outbox = new Outbox($resource);
$queue = new EventQueue($config, $outbox, new Configurable(), $logger);

// Orders: a new one (saved twice), one created two hours ago, and not an order at all.
$now = gmdate('Y-m-d H:i:s');
$items = [
    new FakeDataObject(['item_id' => '10', 'product_id' => '67', 'product_type' => 'configurable',
        'sku' => 'MH01-S-Gray', 'qty_ordered' => '1.0000', 'price' => '52.0000']),
    new FakeDataObject(['item_id' => '11', 'parent_item_id' => '10', 'product_id' => '56',
        'product_type' => 'simple', 'sku' => 'MH01-S-Gray', 'qty_ordered' => '1.0000', 'price' => '0.0000']),
];
$order = new Order(
    ['entity_id' => '41', 'increment_id' => '000000041', 'created_at' => $now, 'updated_at' => $now,
        'state' => 'new', 'store_id' => '1', 'customer_id' => '7', 'customer_is_guest' => '0',
        'customer_email' => 'shopper@example.com'],
    $items,
    new FakeDataObject(['country_id' => 'FR', 'street' => '1 Rue de la Paix', 'lastname' => 'Martin']),
    new FakeDataObject(['country_id' => 'FR', 'street' => '1 Rue de la Paix'])
);
$orders = new OrderPlaced($queue, $logger);
$orders->execute(new Observer(['order' => $order]));
$orders->execute(new Observer(['order' => $order]));
$old = new Order(['entity_id' => '5', 'created_at' => gmdate('Y-m-d H:i:s', time() - 7200), 'store_id' => '1']);
$orders->execute(new Observer(['order' => $old]));
$orders->execute(new Observer(['order' => 'not an order']));

// A cart saved twice before the cron job ran.
$carts = new CartSaved($queue, $logger);
foreach ([1, 3] as $qty) {
    $quote = new Quote(
        ['entity_id' => '9', 'store_id' => '1', 'is_active' => '1', 'customer_id' => null,
            'created_at' => '2026-03-02 08:00:00'],
        [new FakeDataObject(['item_id' => '20', 'product_id' => '5', 'product_type' => 'simple',
            'sku' => 'S5', 'qty' => $qty, 'price' => '9.5000'])]
    );
    $carts->execute(new Observer(['cart' => new CartHolder($quote)]));
}

// Products: a configurable, one of its children (queues the configurable), a simple one.
Configurable::$parents = [56 => ['67'], 57 => ['67']];
$configurable = new Product(['id' => '67', 'sku' => 'MH01', 'name' => 'Chaz Kangeroo Hoodie',
    'price' => '0.0000', 'status' => '1', 'visibility' => '4', 'type_id' => 'configurable',
    'updated_at' => '2026-03-02 08:00:00', 'category_ids' => ['15', '16'], 'image' => '/m/h/mh01-gray_main.jpg']);
$configurable->children = [56, 57];
$configurable->media = [new FakeMediaEntry()];
$child56 = new Product(['id' => '56', 'sku' => 'MH01-S-Gray', 'name' => 'Hoodie S', 'price' => '52.0000',
    'status' => '1', 'visibility' => '1', 'type_id' => 'simple']);
$child57 = new Product(['id' => '57', 'sku' => 'MH01-M-Gray', 'name' => 'Hoodie M', 'price' => '54.0000',
    'status' => '1', 'visibility' => '1', 'type_id' => 'simple']);
$simple = new Product(['id' => '5', 'sku' => 'S5', 'name' => 'Simple', 'visibility' => '4', 'type_id' => 'simple']);
$products = new ProductSaved($queue, $logger);
foreach ([$configurable, $child56, $simple] as $product) {
    $products->execute(new Observer(['product' => $product]));
}

// The table is missing: the save goes on, the error is logged.
$resource->connection->fail = true;
$carts->execute(new Observer(['cart' => new CartHolder($quote)]));
$resource->connection->fail = false;
$out['queued'] = rows($resource);

// The cron job. Product 5 was deleted meanwhile; cartwise answers the cart with 500.
$repository = new Repository();
$repository->products = ['67' => $configurable];
ProductCollectionFactory::$products = [$child56, $child57];
CategoryCollectionFactory::$categories = [
    new FakeDataObject(['id' => '15', 'name' => 'Men', 'level' => '2', 'is_active' => '1']),
    new FakeDataObject(['id' => '16', 'name' => 'Hoodies & Sweatshirts', 'level' => '3', 'is_active' => '1']),
];
$snapshot = new ProductSnapshot(
    $repository, new ProductCollectionFactory(), new CategoryCollectionFactory(), new Stock(), new Stores(), $logger
);
$locks = new Locks();
$cron = new SendOutbox(
    $outbox, $config, new DeliveryRequest(new Signer()), new HttpTransport(new CurlFactory()),
    $snapshot, new RetryPolicy(), $locks, $logger
);
Curl::$answer = static function (string $url, array $headers, string $body): array {
    return in_array('X-Cartwise-Event: cart_saved', $headers, true) ? [500, 'boom'] : [200, '{"status":"stored"}'];
};
$cron->execute();
$out['first_run'] = rows($resource);
$out['requests'] = Curl::$requests;
$cron->execute();
$out['requests_after_second_run'] = count(Curl::$requests);

// Due again, but another run holds the lock: nothing is sent.
$resource->connection->update('t', ['next_attempt_at' => 0], ['event_type = ?' => 'cart_saved']);
$locks->held = true;
$cron->execute();
$locks->held = false;
$out['requests_while_locked'] = count(Curl::$requests);

// The secret is missing: an attempt is counted, nothing is sent.
unset($scopeConfig->values['cartwise/events/signing_secret']);
$cron->execute();
$out['not_configured'] = rows($resource);
$out['requests_not_configured'] = count(Curl::$requests);

// cartwise is unreachable: the run stops after three rows got no answer.
$scopeConfig->values['cartwise/events/signing_secret'] = 'enc:' . $in['secret'];
$resource->connection->update('t', ['next_attempt_at' => 0], ['event_type = ?' => 'cart_saved']);
foreach ([101, 102, 103, 104] as $quoteId) {
    $carts->execute(new Observer(['cart' => new CartHolder(new Quote(
        ['entity_id' => (string)$quoteId, 'store_id' => '1', 'is_active' => '1'],
        []
    ))]));
}
$before = count(Curl::$requests);
Curl::$answer = static function (string $url, array $headers, string $body): array {
    throw new \Exception('Failed to connect to cartwise.example.com port 443: Connection refused');
};
$cron->execute();
$out['unreachable_requests'] = count(Curl::$requests) - $before;
$out['unreachable'] = rows($resource);
$out['log'] = $logger->lines;
echo json_encode($out, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
