<?php
/**
 * The `cartwise_outbox` table: one row per event to deliver. Observers only add rows (one
 * INSERT, never an HTTP call); the cron job claims due rows, delivers them and records the
 * outcome. Runs of the job never overlap (SendOutbox holds a lock), so claiming needs no row
 * locks.
 *
 * `pending_key` coalesces saves that were not yet attempted: a cart saved five times before
 * the next cron run is sent once, in its last state; a product saved twice is summarised once.
 * It is cleared when the row is claimed, so later saves queue a new row.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

use Magento\Framework\App\ResourceConnection;

class Outbox
{
    public const TABLE = 'cartwise_outbox';

    /** Sent rows are kept a week, given-up rows a month, for support. */
    private const KEEP_SENT_SECONDS = 604800;
    private const KEEP_FAILED_SECONDS = 2592000;

    /** @var ResourceConnection */
    private $resource;

    /**
     * @param ResourceConnection $resource
     */
    public function __construct(ResourceConnection $resource)
    {
        $this->resource = $resource;
    }

    /**
     * Queue one event. A row with the same event id, or with the same pending key and not yet
     * claimed, is updated instead: its `$replace` columns take the new values (with
     * ['event_id'] alone nothing changes, the event is already queued).
     *
     * @param string $event order_placed, cart_saved or product_saved
     * @param string $eventId
     * @param int $storeId whose configuration delivers it
     * @param int|null $resourceId the order, quote or product id
     * @param string|null $body the JSON body; null: built when sent (product_saved)
     * @param string|null $pendingKey e.g. cart:42
     * @param string[] $replace columns a duplicate replaces
     * @return void
     */
    public function add(
        string $event,
        string $eventId,
        int $storeId,
        ?int $resourceId,
        ?string $body,
        ?string $pendingKey,
        array $replace = ['event_id']
    ): void {
        $this->resource->getConnection()->insertOnDuplicate(
            $this->table(),
            [
                'event_id' => $eventId,
                'event_type' => $event,
                'store_id' => $storeId,
                'resource_id' => $resourceId,
                'pending_key' => $pendingKey,
                'body' => $body,
                'status' => RetryPolicy::STATE_PENDING,
                'attempts' => 0,
                'next_attempt_at' => time(),
            ],
            $replace
        );
    }

    /**
     * Whether an event id is queued (or was sent) already.
     *
     * @param string $eventId
     * @return bool
     */
    public function has(string $eventId): bool
    {
        $connection = $this->resource->getConnection();
        $select = $connection->select()
            ->from($this->table(), ['entity_id'])
            ->where('event_id = ?', $eventId)
            ->limit(1);
        return $connection->fetchOne($select) !== false;
    }

    /**
     * Claim up to `$limit` rows due at `$now`, oldest first: their pending keys are cleared
     * before they are read, so a save arriving meanwhile queues a new row instead of changing
     * a body that is being sent.
     *
     * @param int $now unix seconds
     * @param int $limit
     * @return array[] the rows
     */
    public function claimDue(int $now, int $limit): array
    {
        $connection = $this->resource->getConnection();
        $ids = $connection->fetchCol(
            $connection->select()
                ->from($this->table(), ['entity_id'])
                ->where('status = ?', RetryPolicy::STATE_PENDING)
                ->where('next_attempt_at <= ?', $now)
                ->order('entity_id ASC')
                ->limit($limit)
        );
        if (!$ids) {
            return [];
        }
        $connection->update($this->table(), ['pending_key' => null], ['entity_id IN (?)' => $ids]);
        return $connection->fetchAll(
            $connection->select()
                ->from($this->table())
                ->where('entity_id IN (?)', $ids)
                ->order('entity_id ASC')
        );
    }

    /**
     * Keep the body built for a row, so every attempt sends the same event.
     *
     * @param int $rowId
     * @param string $body
     * @return void
     */
    public function saveBody(int $rowId, string $body): void
    {
        $this->resource->getConnection()->update(
            $this->table(),
            ['body' => $body],
            ['entity_id = ?' => $rowId]
        );
    }

    /**
     * Record an attempt's outcome.
     *
     * @param int $rowId
     * @param string $state pending, sent or failed
     * @param int $attempts attempts made so far
     * @param int $nextAttemptAt unix seconds
     * @param int|null $httpStatus
     * @param string|null $error
     * @param int $now unix seconds
     * @return void
     */
    public function record(
        int $rowId,
        string $state,
        int $attempts,
        int $nextAttemptAt,
        ?int $httpStatus,
        ?string $error,
        int $now
    ): void {
        $this->resource->getConnection()->update(
            $this->table(),
            [
                'status' => $state,
                'attempts' => $attempts,
                'next_attempt_at' => $nextAttemptAt,
                'last_status' => $httpStatus,
                'last_error' => $error === null ? null : mb_substr($error, 0, 255),
                'sent_at' => $state === RetryPolicy::STATE_SENT ? $now : null,
            ],
            ['entity_id = ?' => $rowId]
        );
    }

    /**
     * Delete sent rows older than a week and given-up rows older than a month.
     *
     * @param int $now unix seconds
     * @return void
     */
    public function purge(int $now): void
    {
        $connection = $this->resource->getConnection();
        $connection->delete($this->table(), [
            'status = ?' => RetryPolicy::STATE_SENT,
            'sent_at < ?' => $now - self::KEEP_SENT_SECONDS,
        ]);
        $connection->delete($this->table(), [
            'status = ?' => RetryPolicy::STATE_FAILED,
            'next_attempt_at < ?' => $now - self::KEEP_FAILED_SECONDS,
        ]);
    }

    /**
     * @return string
     */
    private function table(): string
    {
        return $this->resource->getTableName(self::TABLE);
    }
}
