<?php
/**
 * Every minute: delivers due outbox rows to cartwise, oldest first, each signed at the moment
 * it is sent. A 2xx marks the row sent; anything else (or no answer within 5 s) schedules the
 * next attempt with back-off (RetryPolicy); after the last attempt the row is given up with a
 * log line. A run stops after 45 s, or after three rows in a row got no answer (cartwise is
 * down: the rest waits for the next run instead of each waiting out its timeout). Runs never
 * overlap.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Cron;

use Cartwise\Recommendations\Model\Config;
use Cartwise\Recommendations\Model\DeliveryRequest;
use Cartwise\Recommendations\Model\HttpTransport;
use Cartwise\Recommendations\Model\Outbox;
use Cartwise\Recommendations\Model\PayloadBuilder;
use Cartwise\Recommendations\Model\ProductSnapshot;
use Cartwise\Recommendations\Model\RetryPolicy;
use Magento\Framework\Lock\LockManagerInterface;
use Psr\Log\LoggerInterface;

class SendOutbox
{
    private const LOCK_NAME = 'cartwise_outbox_send';
    private const BATCH_SIZE = 50;
    private const RUN_SECONDS = 45;
    private const MAX_UNANSWERED_IN_A_ROW = 3;

    /** @var Outbox */
    private $outbox;

    /** @var Config */
    private $config;

    /** @var DeliveryRequest */
    private $requests;

    /** @var HttpTransport */
    private $transport;

    /** @var ProductSnapshot */
    private $productSnapshot;

    /** @var RetryPolicy */
    private $retryPolicy;

    /** @var LockManagerInterface */
    private $lockManager;

    /** @var LoggerInterface */
    private $logger;

    /**
     * @param Outbox $outbox
     * @param Config $config
     * @param DeliveryRequest $requests
     * @param HttpTransport $transport
     * @param ProductSnapshot $productSnapshot
     * @param RetryPolicy $retryPolicy
     * @param LockManagerInterface $lockManager
     * @param LoggerInterface $logger
     */
    public function __construct(
        Outbox $outbox,
        Config $config,
        DeliveryRequest $requests,
        HttpTransport $transport,
        ProductSnapshot $productSnapshot,
        RetryPolicy $retryPolicy,
        LockManagerInterface $lockManager,
        LoggerInterface $logger
    ) {
        $this->outbox = $outbox;
        $this->config = $config;
        $this->requests = $requests;
        $this->transport = $transport;
        $this->productSnapshot = $productSnapshot;
        $this->retryPolicy = $retryPolicy;
        $this->lockManager = $lockManager;
        $this->logger = $logger;
    }

    /**
     * @return void
     */
    public function execute(): void
    {
        if (!$this->lockManager->lock(self::LOCK_NAME, 0)) {
            return;
        }
        try {
            $this->run(time());
        } catch (\Throwable $e) {
            $this->logger->error('cartwise: the outbox run stopped: ' . $e->getMessage());
        } finally {
            $this->lockManager->unlock(self::LOCK_NAME);
        }
    }

    /**
     * @param int $started unix seconds
     * @return void
     */
    private function run(int $started): void
    {
        $this->outbox->purge($started);
        $unanswered = 0;
        do {
            $rows = $this->outbox->claimDue(time(), self::BATCH_SIZE);
            foreach ($rows as $row) {
                if (time() - $started >= self::RUN_SECONDS || $unanswered >= self::MAX_UNANSWERED_IN_A_ROW) {
                    // Claimed but not attempted: still pending and due, taken up by the next run.
                    return;
                }
                $answered = $this->deliver($row);
                $unanswered = $answered ? 0 : $unanswered + 1;
            }
        } while (count($rows) === self::BATCH_SIZE);
    }

    /**
     * One attempt at one row; records its outcome and never throws.
     *
     * @param array $row
     * @return bool whether cartwise answered (any status), or no request was needed
     */
    private function deliver(array $row): bool
    {
        $rowId = (int)$row['entity_id'];
        $event = (string)$row['event_type'];
        $eventId = (string)$row['event_id'];
        $storeId = (int)$row['store_id'];
        $attempts = (int)$row['attempts'] + 1;
        $answered = true;
        try {
            $body = $this->body($row);
            if ($body === null) {
                return true;
            }
            $settings = $this->config->delivery($storeId);
            if ($settings === null) {
                $result = [
                    'status' => null,
                    'error' => 'cartwise is not configured for store ' . $storeId
                        . ' (enabled, API URL, store key and signing secret are needed)',
                ];
            } else {
                $headers = $this->requests->headers(
                    $settings['store_key'],
                    $settings['secret'],
                    $event,
                    $eventId,
                    $body,
                    time()
                );
                $result = $this->transport->post(DeliveryRequest::url($settings['api_url']), $headers, $body);
                $answered = $result['status'] !== null;
            }
        } catch (\Throwable $e) {
            $result = ['status' => null, 'error' => $e->getMessage()];
        }
        $now = time();
        $outcome = $this->retryPolicy->outcome($attempts, $result['status'], $now);
        $this->outbox->record(
            $rowId,
            $outcome['state'],
            $attempts,
            $outcome['next_attempt_at'],
            $result['status'],
            $result['error'],
            $now
        );
        if ($outcome['state'] === RetryPolicy::STATE_FAILED) {
            $this->logger->warning(sprintf(
                'cartwise: gave up on %s %s after %d attempt(s): %s',
                $event,
                $eventId,
                $attempts,
                (string)$result['error']
            ));
        } elseif ($outcome['state'] === RetryPolicy::STATE_PENDING) {
            $this->logger->info(sprintf(
                'cartwise: %s %s attempt %d failed (%s); next attempt at %s UTC',
                $event,
                $eventId,
                $attempts,
                (string)$result['error'],
                gmdate('Y-m-d H:i:s', $outcome['next_attempt_at'])
            ));
        }
        return $answered;
    }

    /**
     * The row's body; a product_saved row's is built now and kept. Null when there is nothing
     * to send (the product was deleted; the row is then closed).
     *
     * @param array $row
     * @return string|null
     * @throws \JsonException
     */
    private function body(array $row): ?string
    {
        $body = $row['body'] ?? null;
        if (is_string($body) && $body !== '') {
            return $body;
        }
        $rowId = (int)$row['entity_id'];
        $now = time();
        if ($row['event_type'] !== 'product_saved') {
            $this->close($rowId, $row, 'the row has no body', $now);
            return null;
        }
        $payload = $this->productSnapshot->payload(
            (int)$row['resource_id'],
            (int)$row['store_id'],
            PayloadBuilder::occurredAt()
        );
        if ($payload === null) {
            $this->close($rowId, $row, 'the product no longer exists', $now);
            return null;
        }
        $body = PayloadBuilder::encode($payload);
        if (strlen($body) > PayloadBuilder::MAX_BODY_BYTES) {
            $this->close($rowId, $row, 'the body is over the 1 MiB cartwise accepts', $now);
            return null;
        }
        $this->outbox->saveBody($rowId, $body);
        return $body;
    }

    /**
     * Give a row up without an attempt.
     *
     * @param int $rowId
     * @param array $row
     * @param string $reason
     * @param int $now
     * @return void
     */
    private function close(int $rowId, array $row, string $reason, int $now): void
    {
        $this->outbox->record($rowId, RetryPolicy::STATE_FAILED, (int)$row['attempts'], $now, null, $reason, $now);
        $this->logger->warning(sprintf(
            'cartwise: not sending %s %s: %s',
            (string)$row['event_type'],
            (string)$row['event_id'],
            $reason
        ));
    }
}
