<?php
/**
 * Cartwise_Recommendations: cart-page recommendations from a cartwise server, and the store's
 * orders, carts and product changes sent to it through an outbox worked off by cron.
 */
declare(strict_types=1);

use Magento\Framework\Component\ComponentRegistrar;

ComponentRegistrar::register(ComponentRegistrar::MODULE, 'Cartwise_Recommendations', __DIR__);
