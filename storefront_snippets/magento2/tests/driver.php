<?php
// The tests' entry to the module's Magento-free classes (tests/test_magento_module.py and
// tests/browser/test_magento_block.py of the cartwise repository): runs one operation on the
// JSON read from stdin and prints the result. Usage: php driver.php <module dir> < input.json
declare(strict_types=1);

use Cartwise\Recommendations\Model\DeliveryRequest;
use Cartwise\Recommendations\Model\PayloadBuilder;
use Cartwise\Recommendations\Model\RetryPolicy;
use Cartwise\Recommendations\Model\Signer;

$module = $argv[1];
foreach (['Signer', 'PayloadBuilder', 'RetryPolicy', 'DeliveryRequest'] as $class) {
    require $module . '/Model/' . $class . '.php';
}
$in = json_decode((string)stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
switch ($in['op']) {
    case 'sign':
        echo (new Signer())->sign(base64_decode($in['body']), $in['secret'], $in['t']);
        break;
    case 'order':
        echo PayloadBuilder::encode(PayloadBuilder::orderPlaced(
            $in['order'], $in['items'], $in['billing'], $in['shipping'], $in['occurred_at']
        ));
        break;
    case 'cart':
        echo PayloadBuilder::encode(PayloadBuilder::cartSaved(
            $in['quote'], $in['items'], $in['occurred_at']
        ));
        break;
    case 'product':
        echo PayloadBuilder::encode(PayloadBuilder::productSaved(
            $in['product'], $in['children'], $in['categories'], $in['media'], $in['occurred_at']
        ));
        break;
    case 'headers':
        echo json_encode([
            'url' => DeliveryRequest::url($in['api_url']),
            'headers' => (new DeliveryRequest(new Signer()))->headers(
                $in['store_key'], $in['secret'], $in['event'], $in['event_id'],
                base64_decode($in['body']), $in['t']
            ),
        ], JSON_THROW_ON_ERROR);
        break;
    case 'retry':
        $policy = new RetryPolicy();
        $out = [];
        foreach ($in['cases'] as $case) {
            $out[] = $policy->outcome($case[0], $case[1], $in['now']);
        }
        echo json_encode($out, JSON_THROW_ON_ERROR);
        break;
    case 'order_ids':
        echo json_encode([
            'event_id' => PayloadBuilder::orderEventId($in['order']),
            'new' => array_map(static function ($case) {
                return PayloadBuilder::isNewOrder($case[0], $case[1]);
            }, $in['new_cases']),
            'random' => [PayloadBuilder::newEventId(), PayloadBuilder::newEventId()],
            'occurred_at' => PayloadBuilder::occurredAt($in['unix']),
        ], JSON_THROW_ON_ERROR);
        break;
    case 'template':
        // The cart block's template with stand-ins for Magento's block, escaper and view model.
        final class FakeEscaper
        {
            public function escapeHtml($value): string
            {
                return htmlspecialchars((string)$value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
            }

            public function escapeHtmlAttr($value, $escapeSingleQuote = true): string
            {
                return htmlspecialchars((string)$value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
            }
        }
        final class FakeViewModel
        {
            private $in;

            public function __construct(array $in)
            {
                $this->in = $in;
            }

            public function isEnabled(): bool
            {
                return $this->in['enabled'];
            }

            public function getMountId(): string
            {
                return 'cartwise-recommendations';
            }

            public function getReservedHeight(): int
            {
                return $this->in['height'];
            }

            public function getTitle(): string
            {
                return $this->in['title'];
            }

            public function getComponentConfig(): array
            {
                return $this->in['config'];
            }
        }
        final class FakeBlock
        {
            private $viewModel;

            public function __construct($viewModel)
            {
                $this->viewModel = $viewModel;
            }

            public function getData($key)
            {
                return $key === 'view_model' ? $this->viewModel : null;
            }
        }
        $block = new FakeBlock(new FakeViewModel($in));
        $escaper = new FakeEscaper();
        include $module . '/view/frontend/templates/recommendations.phtml';
        break;
    default:
        fwrite(STDERR, 'unknown op');
        exit(3);
}
