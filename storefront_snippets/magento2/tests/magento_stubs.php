<?php
// Stand-ins for the Magento classes the module's glue code uses: just enough behaviour to run
// observers -> outbox -> cron -> transport in the plain PHP CLI. They are not Magento.
declare(strict_types=1);

namespace Psr\Log {
    interface LoggerInterface
    {
        public function error($message, array $context = []);
        public function warning($message, array $context = []);
        public function info($message, array $context = []);
    }
}

namespace Magento\Store\Model {
    interface ScopeInterface
    {
        public const SCOPE_STORE = 'store';
    }
    interface StoreManagerInterface
    {
        public function getStore($storeId = null);
        public function getDefaultStoreView();
    }
}

namespace Magento\Framework\App\Config {
    interface ScopeConfigInterface
    {
        public function getValue($path, $scopeType = 'default', $scopeCode = null);
        public function isSetFlag($path, $scopeType = 'default', $scopeCode = null);
    }
}

namespace Magento\Framework\Encryption {
    interface EncryptorInterface
    {
        public function decrypt($data);
    }
}

namespace Magento\Framework\Lock {
    interface LockManagerInterface
    {
        public function lock(string $name, int $timeout = -1): bool;
        public function unlock(string $name): bool;
    }
}

namespace Magento\Framework {
    interface UrlInterface
    {
        public const URL_TYPE_MEDIA = 'media';
    }
}

namespace Magento\Framework\Exception {
    class NoSuchEntityException extends \Exception
    {
    }
}

namespace Magento\Framework\Event {
    class Observer
    {
        private $event;

        public function __construct(array $data)
        {
            $this->event = new Event($data);
        }

        public function getEvent(): Event
        {
            return $this->event;
        }
    }
    class Event
    {
        private $data;

        public function __construct(array $data)
        {
            $this->data = $data;
        }

        public function getData($key)
        {
            return $this->data[$key] ?? null;
        }
    }
    interface ObserverInterface
    {
        public function execute(Observer $observer);
    }
}

namespace Magento\Framework\HTTP\Client {
    class Curl
    {
        /** @var array[] every request made, in order */
        public static $requests = [];
        /** @var callable(string $url, array $headerLines, string $body): array{int, string} */
        public static $answer;
        private $options = [];
        private $timeout = 300;
        private $status = 0;
        private $body = '';

        public function setTimeout($value)
        {
            $this->timeout = (int)$value;
        }

        public function setOptions($options)
        {
            $this->options = $options;
        }

        public function post($uri, $params)
        {
            self::$requests[] = [
                'url' => $uri,
                'headers' => $this->options[CURLOPT_HTTPHEADER] ?? [],
                'body' => base64_encode($params),
                'timeout' => $this->timeout,
                'connect_timeout' => $this->options[CURLOPT_CONNECTTIMEOUT] ?? null,
            ];
            [$this->status, $this->body] = (self::$answer)($uri, $this->options[CURLOPT_HTTPHEADER] ?? [], $params);
        }

        public function getStatus()
        {
            return $this->status;
        }

        public function getBody()
        {
            return $this->body;
        }
    }
    class CurlFactory
    {
        public function create(): Curl
        {
            return new Curl();
        }
    }
}

namespace Magento\Framework\DB {
    class Select
    {
        public $columns = ['*'];
        public $conditions = [];
        public $limit = null;

        public function from($table, $columns = '*')
        {
            $this->columns = (array)$columns;
            return $this;
        }

        public function where($condition, $value = null)
        {
            $this->conditions[$condition] = $value;
            return $this;
        }

        public function order($spec)
        {
            return $this;
        }

        public function limit($count)
        {
            $this->limit = $count;
            return $this;
        }
    }
}

namespace Magento\Framework\App {
    use Magento\Framework\DB\Select;

    /** The outbox table in memory: unique event_id and pending_key, conditions as Outbox writes them. */
    class FakeConnection
    {
        public $rows = [];
        public $fail = false;
        private $nextId = 1;

        public function insertOnDuplicate($table, array $data, array $fields = [])
        {
            if ($this->fail) {
                throw new \RuntimeException("Base table or view not found: $table");
            }
            foreach ($this->rows as $id => $row) {
                $sameEvent = $row['event_id'] === $data['event_id'];
                $samePending = $data['pending_key'] !== null && $row['pending_key'] === $data['pending_key'];
                if ($sameEvent || $samePending) {
                    foreach ($fields as $field) {
                        $this->rows[$id][$field] = $data[$field];
                    }
                    return 2;
                }
            }
            $id = $this->nextId++;
            $this->rows[$id] = $data + [
                'entity_id' => $id, 'last_status' => null, 'last_error' => null, 'sent_at' => null,
            ];
            return 1;
        }

        public function select(): Select
        {
            return new Select();
        }

        private function matching(array $conditions): array
        {
            $found = [];
            foreach ($this->rows as $id => $row) {
                $ok = true;
                foreach ($conditions as $condition => $value) {
                    if (!preg_match('/^(\w+) (=|<=|<|IN) \(?\?\)?$/', $condition, $m)) {
                        throw new \LogicException("unexpected condition $condition");
                    }
                    [$all, $column, $op] = $m;
                    $cell = $row[$column];
                    if ($op === '=') {
                        $ok = $ok && (string)$cell === (string)$value;
                    } elseif ($op === '<=') {
                        $ok = $ok && $cell !== null && $cell <= $value;
                    } elseif ($op === '<') {
                        $ok = $ok && $cell !== null && $cell < $value;
                    } else {
                        $ok = $ok && in_array((string)$cell, array_map('strval', (array)$value), true);
                    }
                }
                if ($ok) {
                    $found[$id] = $row;
                }
            }
            ksort($found);
            return $found;
        }

        private function run(Select $select): array
        {
            $rows = array_values($this->matching($select->conditions));
            return $select->limit === null ? $rows : array_slice($rows, 0, $select->limit);
        }

        public function fetchCol($select)
        {
            return array_map(function ($row) use ($select) {
                return $row[$select->columns[0]];
            }, $this->run($select));
        }

        public function fetchOne($select)
        {
            $col = $this->fetchCol($select);
            return $col ? $col[0] : false;
        }

        public function fetchAll($select)
        {
            return $this->run($select);
        }

        public function update($table, array $bind, $where = '')
        {
            $ids = array_keys($this->matching((array)$where));
            foreach ($ids as $id) {
                $this->rows[$id] = array_merge($this->rows[$id], $bind);
            }
            return count($ids);
        }

        public function delete($table, $where = '')
        {
            $ids = array_keys($this->matching((array)$where));
            foreach ($ids as $id) {
                unset($this->rows[$id]);
            }
            return count($ids);
        }
    }

    class ResourceConnection
    {
        public $connection;

        public function __construct()
        {
            $this->connection = new FakeConnection();
        }

        public function getConnection()
        {
            return $this->connection;
        }

        public function getTableName($name)
        {
            return 'prefix_' . $name;
        }
    }
}

namespace Magento\Catalog\Api\Data {
    interface ProductInterface
    {
    }
}

namespace Magento\Catalog\Model {
    use Magento\Catalog\Api\Data\ProductInterface;

    class Product implements ProductInterface
    {
        public $data;
        public $children = [];
        public $media = [];

        public function __construct(array $data)
        {
            $this->data = $data;
        }

        public function __call($name, $args)
        {
            $key = strtolower(preg_replace('/(?<!^)[A-Z]/', '_$0', substr($name, 3)));
            return $this->data[$key] ?? null;
        }

        public function getData($key = null)
        {
            return $key === null ? $this->data : ($this->data[$key] ?? null);
        }

        public function getMediaGalleryEntries()
        {
            return $this->media;
        }

        public function getCategoryIds()
        {
            return $this->data['category_ids'] ?? [];
        }

        public function getTypeInstance()
        {
            $children = $this->children;
            return new class($children) {
                private $children;

                public function __construct($children)
                {
                    $this->children = $children;
                }

                public function getChildrenIds($parentId, $required = true)
                {
                    return [0 => array_combine($this->children, $this->children)];
                }
            };
        }
    }
}

namespace Magento\Catalog\Api {
    interface ProductRepositoryInterface
    {
        public function getById($productId, $editMode = false, $storeId = null, $forceReload = false);
    }
}

namespace Magento\Catalog\Model\ResourceModel\Product {
    class CollectionFactory
    {
        public static $products = [];

        public function create()
        {
            return new \FakeCollection(self::$products);
        }
    }
}

namespace Magento\Catalog\Model\ResourceModel\Category {
    class CollectionFactory
    {
        public static $categories = [];

        public function create()
        {
            return new \FakeCollection(self::$categories);
        }
    }
}

namespace Magento\CatalogInventory\Api {
    interface StockRegistryInterface
    {
        public function getStockItem($productId, $scopeId = null);
    }
}

namespace Magento\ConfigurableProduct\Model\Product\Type {
    class Configurable
    {
        public static $parents = [];

        public function getParentIdsByChild($childId)
        {
            return self::$parents[$childId] ?? [];
        }
    }
}

namespace Magento\Quote\Model {
    class Quote extends \FakeEntity
    {
    }
}

namespace Magento\Sales\Model {
    class Order extends \FakeEntity
    {
    }
}

namespace {
    // Extensions Magento requires that a bare php-cli may lack (curl, mbstring).
    if (!defined('CURLOPT_HTTPHEADER')) {
        define('CURLOPT_HTTPHEADER', 10023);
        define('CURLOPT_CONNECTTIMEOUT', 78);
        define('CURLOPT_FOLLOWLOCATION', 52);
        define('CURLOPT_NOSIGNAL', 99);
    }
    if (!function_exists('mb_substr')) {
        function mb_substr(string $string, int $start, ?int $length = null, ?string $encoding = null): string
        {
            $part = iconv_substr($string, $start, $length ?? PHP_INT_MAX, 'UTF-8');
            return $part === false ? substr($string, $start, $length ?? PHP_INT_MAX) : $part;
        }
    }

    /** getData(), getAllItems(), get<Field>() over an array. */
    class FakeEntity
    {
        public $data;
        public $items;
        public $billing;
        public $shipping;

        public function __construct(array $data, array $items = [], $billing = null, $shipping = null)
        {
            $this->data = $data;
            $this->items = $items;
            $this->billing = $billing;
            $this->shipping = $shipping;
        }

        public function __call($name, $args)
        {
            $key = strtolower(preg_replace('/(?<!^)[A-Z]/', '_$0', substr($name, 3)));
            return $this->data[$key] ?? null;
        }

        public function getId()
        {
            return $this->data['entity_id'] ?? null;
        }

        public function getData($key = null)
        {
            return $key === null ? $this->data : ($this->data[$key] ?? null);
        }

        public function getAllItems()
        {
            return $this->items;
        }

        public function getBillingAddress()
        {
            return $this->billing;
        }

        public function getShippingAddress()
        {
            return $this->shipping;
        }
    }

    class FakeCollection implements \IteratorAggregate
    {
        private $all;
        private $ids = null;

        public function __construct(array $all)
        {
            $this->all = $all;
        }

        public function setStoreId($storeId)
        {
            return $this;
        }

        public function addAttributeToSelect($attributes)
        {
            return $this;
        }

        public function addIdFilter($ids)
        {
            $this->ids = array_map('intval', (array)$ids);
            return $this;
        }

        public function getIterator(): \Iterator
        {
            $ids = $this->ids;
            return new \ArrayIterator(array_values(array_filter($this->all, function ($item) use ($ids) {
                return $ids === null || in_array((int)$item->getId(), $ids, true);
            })));
        }
    }

    class FakeMediaEntry
    {
        public function getFile()
        {
            return '/m/h/mh01-gray_main.jpg';
        }

        public function getMediaType()
        {
            return 'image';
        }

        public function getTypes()
        {
            return ['image', 'small_image'];
        }

        public function getPosition()
        {
            return 1;
        }

        public function isDisabled()
        {
            return false;
        }
    }

    class FakeStore
    {
        public function getBaseUrl($type = 'link', $secure = null)
        {
            return 'https://shop.example.com/media/';
        }
    }

    class FakeDataObject
    {
        private $data;

        public function __construct(array $data)
        {
            $this->data = $data;
        }

        public function __call($name, $args)
        {
            $key = strtolower(preg_replace('/(?<!^)[A-Z]/', '_$0', substr($name, 3)));
            return $this->data[$key] ?? null;
        }

        public function getId()
        {
            return $this->data['id'] ?? ($this->data['entity_id'] ?? null);
        }

        public function getData($key = null)
        {
            return $key === null ? $this->data : ($this->data[$key] ?? null);
        }
    }
}
