<?php
/**
 * What to do with an outbox row after one delivery attempt: sent on 2xx; otherwise tried again
 * with exponential back-off (1, 2, 4 … minutes, at most 6 hours apart) until MAX_ATTEMPTS, then
 * given up. cartwise asks for every non-2xx answer and every timeout to be retried (a 401 may
 * clear once the new signing secret is configured); only 413 (the body is over 1 MiB) can never
 * succeed and is given up at once.
 *
 * No Magento dependency: the tests run it with the plain PHP CLI.
 */
declare(strict_types=1);

namespace Cartwise\Recommendations\Model;

class RetryPolicy
{
    public const STATE_PENDING = 'pending';
    public const STATE_SENT = 'sent';
    public const STATE_FAILED = 'failed';

    /** 16 attempts span about 44 hours: 1, 2, 4 … 256 minutes apart, then 6 hours apart. */
    public const MAX_ATTEMPTS = 16;

    private const BASE_DELAY_SECONDS = 60;
    private const MAX_DELAY_SECONDS = 21600;

    /**
     * Seconds to wait after the given number of failed attempts.
     *
     * @param int $attempts failed attempts so far, at least 1
     * @return int
     */
    public function delayAfter(int $attempts): int
    {
        $exponent = min(max($attempts, 1) - 1, 20);
        return (int)min(self::MAX_DELAY_SECONDS, self::BASE_DELAY_SECONDS * (2 ** $exponent));
    }

    /**
     * The row's next state after an attempt.
     *
     * @param int $attempts attempts made, this one included
     * @param int|null $status the HTTP status; null when no answer came (timeout, refused, DNS)
     * @param int $now unix seconds
     * @return array{state: string, next_attempt_at: int}
     */
    public function outcome(int $attempts, ?int $status, int $now): array
    {
        if ($status !== null && $status >= 200 && $status < 300) {
            return ['state' => self::STATE_SENT, 'next_attempt_at' => $now];
        }
        if ($status === 413 || $attempts >= self::MAX_ATTEMPTS) {
            return ['state' => self::STATE_FAILED, 'next_attempt_at' => $now];
        }
        return ['state' => self::STATE_PENDING, 'next_attempt_at' => $now + $this->delayAfter($attempts)];
    }
}
