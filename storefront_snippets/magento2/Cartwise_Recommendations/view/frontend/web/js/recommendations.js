/**
 * Cartwise recommendations on the Magento cart page.
 *
 * Reads the cart from the `cart` customer-data section, asks cartwise for products that go
 * with it (`POST {apiUrl}/v1/recommendations`, given `budgetMs` to answer), and renders them
 * as cards (image, title, price, the reason cartwise gives) in the mount node, whose height the
 * template reserved: the page never moves when the cards arrive. Anything else (no answer in
 * time, an error, an empty answer, no cart section within a few seconds) hides the block once
 * and for the rest of the page view, silently: nothing is logged, nothing is thrown.
 *
 * "Add to Cart" posts the product to `checkout/cart/add` with the form key, as a product list
 * does; a configurable (an answer with a `variant_id`) links to its product page, where its
 * options are chosen. Impressions, clicks and add-to-carts are reported to
 * `POST {apiUrl}/v1/events`, fire-and-forget.
 *
 * Settings (from the template's x-magento-init): apiUrl, apiKey, k, budgetMs, placement,
 * addUrl, productUrl, formKey, currency, locale, labels {add, options}.
 */
define(['Magento_Customer/js/customer-data'], function (customerData) {
    'use strict';

    var CART_WAIT_MS = 3000;
    var SESSION_KEY = 'cartwise-session-id';
    var MAX_CART_LINES = 250;
    var MAX_QUANTITY = 100000;
    var memorySessionId = null;

    function noop() {}

    function clamp(value, min, max, fallback) {
        var number = Math.round(Number(value));
        if (!isFinite(number)) {
            return fallback;
        }
        return Math.min(max, Math.max(min, number));
    }

    function randomId() {
        var bytes = new Uint8Array(16);
        var out = '';
        var i;

        if (window.crypto && typeof window.crypto.getRandomValues === 'function') {
            window.crypto.getRandomValues(bytes);
        } else {
            for (i = 0; i < bytes.length; i++) {
                bytes[i] = Math.floor(Math.random() * 256);
            }
        }
        for (i = 0; i < bytes.length; i++) {
            out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
        }
        return out;
    }

    /** A random id kept for this browser: ties the cart's requests and events together. */
    function sessionId() {
        var id;

        try {
            id = window.localStorage.getItem(SESSION_KEY);
            if (!id || !/^[0-9a-f]{32}$/.test(id)) {
                id = randomId();
                window.localStorage.setItem(SESSION_KEY, id);
            }
            return id;
        } catch (e) {
            memorySessionId = memorySessionId || randomId();
            return memorySessionId;
        }
    }

    /** The cart's lines from the customer-data `cart` section; null while it has not loaded. */
    function cartLines(section) {
        var byId = {};
        var lines = [];

        if (!section || !Array.isArray(section.items)) {
            return null;
        }
        section.items.forEach(function (item) {
            var id = item && item.product_id !== undefined && item.product_id !== null ?
                String(item.product_id) : '';
            var quantity;

            if (!id || id.length > 128) {
                return;
            }
            quantity = clamp(item.qty, 1, MAX_QUANTITY, 1);
            if (byId[id]) {
                byId[id].quantity = Math.min(MAX_QUANTITY, byId[id].quantity + quantity);
                return;
            }
            byId[id] = {'product_id': id, quantity: quantity};
            lines.push(byId[id]);
        });
        return lines.slice(0, MAX_CART_LINES);
    }

    /** An http(s) URL, or null (never a javascript: or data: URL in an img or a link). */
    function safeUrl(value) {
        var parsed;

        if (typeof value !== 'string' || !value) {
            return null;
        }
        try {
            parsed = new URL(value, window.location.href);
        } catch (e) {
            return null;
        }
        return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
    }

    function formatPrice(value, currency, locale) {
        if (typeof value !== 'number' || !isFinite(value)) {
            return '';
        }
        if (currency && window.Intl && typeof window.Intl.NumberFormat === 'function') {
            try {
                return new window.Intl.NumberFormat(locale || undefined, {
                    style: 'currency',
                    currency: currency
                }).format(value);
            } catch (e) {
                // An unknown locale or currency code: the plain number below.
            }
        }
        return value.toFixed(2);
    }

    function cookie(name) {
        var parts = document.cookie ? document.cookie.split(';') : [];
        var i;
        var pair;

        for (i = 0; i < parts.length; i++) {
            pair = parts[i].replace(/^\s+/, '').split('=');
            if (pair[0] === name && pair.length > 1) {
                try {
                    return decodeURIComponent(pair.slice(1).join('='));
                } catch (e) {
                    return null;
                }
            }
        }
        return null;
    }

    function node(tag, className, text) {
        var element = document.createElement(tag);

        if (className) {
            element.className = className;
        }
        if (text) {
            element.textContent = text;
        }
        return element;
    }

    /** The products of an answer worth showing: an id and a title each, no duplicates. */
    function products(data, limit) {
        var seen = {};
        var items = data && Array.isArray(data.items) ? data.items : [];

        return items.filter(function (item) {
            var id = item && (typeof item.product_id === 'string' || typeof item.product_id === 'number') ?
                String(item.product_id) : '';

            if (!id || seen[id] || typeof item.title !== 'string' || !item.title.trim()) {
                return false;
            }
            seen[id] = true;
            return true;
        }).slice(0, limit);
    }

    function Recommendations(config, element) {
        this.config = config || {};
        this.element = element;
        this.list = element.querySelector('[data-role="cartwise-items"]') || element;
        this.apiUrl = String(this.config.apiUrl || '').replace(/\/+$/, '');
        this.k = clamp(this.config.k, 1, 20, 4);
        this.budget = clamp(this.config.budgetMs, 50, 5000, 300);
        this.state = 'loading';
        this.shown = false;
        this.requestId = null;
        this.cartKey = null;
        this.call = null;
        this.subscription = null;
        this.waitTimer = null;
        this.observer = null;
    }

    Recommendations.prototype.start = function () {
        var self = this;
        var cart;

        if (!this.apiUrl || !this.config.apiKey || typeof window.fetch !== 'function') {
            this.collapse();
            return;
        }
        cart = customerData.get('cart');
        this.subscription = cart.subscribe(function (section) {
            self.onCart(section);
        });
        this.waitTimer = window.setTimeout(function () {
            if (self.cartKey === null) {
                self.collapse();
            }
        }, CART_WAIT_MS);
        this.onCart(cart());
    };

    Recommendations.prototype.onCart = function (section) {
        var lines;
        var key;

        if (this.state === 'empty') {
            return;
        }
        lines = cartLines(section);
        if (lines === null) {
            return;
        }
        window.clearTimeout(this.waitTimer);
        key = JSON.stringify(lines);
        if (key !== this.cartKey) {
            this.cartKey = key;
            this.fetch(lines);
        }
    };

    /** Ask cartwise; give up after the budget (the request is aborted). */
    Recommendations.prototype.fetch = function (lines) {
        var self = this;
        var controller = typeof window.AbortController === 'function' ? new window.AbortController() : null;
        var call = {done: false};
        var timer;

        function settle() {
            if (call.done) {
                return false;
            }
            call.done = true;
            window.clearTimeout(timer);
            if (self.call === call) {
                self.call = null;
            }
            return true;
        }

        call.abort = function () {
            if (settle() && controller) {
                controller.abort();
            }
        };
        if (this.call) {
            this.call.abort();
        }
        this.call = call;
        timer = window.setTimeout(function () {
            if (settle()) {
                if (controller) {
                    controller.abort();
                }
                self.fail();
            }
        }, this.budget);

        window.fetch(this.apiUrl + '/v1/recommendations', {
            method: 'POST',
            mode: 'cors',
            credentials: 'omit',
            headers: {
                'Content-Type': 'application/json',
                'X-Cartwise-Key': String(this.config.apiKey)
            },
            body: JSON.stringify({
                cart: lines,
                placement: this.config.placement || 'cart',
                k: this.k,
                'session_id': sessionId()
            }),
            signal: controller ? controller.signal : undefined
        }).then(function (response) {
            if (!response.ok) {
                throw new Error('HTTP ' + response.status);
            }
            return response.json();
        }).then(function (data) {
            if (settle()) {
                self.show(data);
            }
        }).catch(function () {
            if (settle()) {
                self.fail();
            }
        });
    };

    Recommendations.prototype.fail = function () {
        // Cards already shown stay when a later refresh fails; otherwise the block goes.
        if (!this.shown) {
            this.collapse();
        }
    };

    Recommendations.prototype.show = function (data) {
        var self = this;
        var chosen;
        var fragment;

        if (this.state === 'empty') {
            return;
        }
        chosen = products(data, this.k);
        if (!chosen.length) {
            this.collapse();
            return;
        }
        this.requestId = data && typeof data.request_id === 'string' ? data.request_id.slice(0, 64) : null;
        fragment = document.createDocumentFragment();
        chosen.forEach(function (item) {
            fragment.appendChild(self.card(item));
        });
        while (this.list.firstChild) {
            this.list.removeChild(this.list.firstChild);
        }
        this.list.appendChild(fragment);
        this.state = 'ready';
        this.shown = true;
        this.element.setAttribute('data-state', 'ready');
        this.element.setAttribute('aria-busy', 'false');
        this.watchImpressions(chosen.map(function (item) {
            return String(item.product_id);
        }));
    };

    Recommendations.prototype.productUrl = function (id) {
        var base = String(this.config.productUrl || '/catalog/product/view/');

        return base.replace(/\/?$/, '/') + 'id/' + encodeURIComponent(id) + '/';
    };

    Recommendations.prototype.card = function (item) {
        var self = this;
        var labels = this.config.labels || {};
        var id = String(item.product_id);
        var url = this.productUrl(id);
        var card = node('li', 'cartwise-recommendations__item');
        var link = node('a', 'cartwise-recommendations__link');
        var media = node('span', 'cartwise-recommendations__image');
        var image = safeUrl(item.image_url);
        var price = formatPrice(item.price, this.config.currency, this.config.locale);
        var reason = typeof item.reason === 'string' ? item.reason.trim() : '';
        var variant = item.variant_id !== undefined && item.variant_id !== null ? String(item.variant_id) : '';
        var img;
        var action;

        card.setAttribute('data-product-id', id);
        link.href = url;
        if (image) {
            img = node('img');
            img.src = image;
            img.alt = '';
            img.loading = 'lazy';
            img.decoding = 'async';
            img.width = 240;
            img.height = 240;
            media.appendChild(img);
        }
        link.appendChild(media);
        link.appendChild(node('span', 'cartwise-recommendations__name', item.title.trim()));
        link.addEventListener('click', function () {
            self.track('click', [id]);
        });
        card.appendChild(link);
        card.appendChild(node('span', 'cartwise-recommendations__price', price || '\u00a0'));
        card.appendChild(node('p', 'cartwise-recommendations__reason', reason || '\u00a0'));

        if (variant && variant !== id) {
            // A configurable: its options are chosen on its page.
            action = node('a', 'action primary cartwise-recommendations__options', labels.options || 'Choose Options');
            action.href = url;
            action.addEventListener('click', function () {
                self.track('click', [id]);
            });
        } else {
            action = node('button', 'action tocart primary cartwise-recommendations__add', labels.add || 'Add to Cart');
            action.type = 'button';
            action.addEventListener('click', function () {
                action.disabled = true;
                self.add(id);
            });
        }
        card.appendChild(action);
        return card;
    };

    /** Post the product to the cart the way a product list does (Magento answers with a redirect). */
    Recommendations.prototype.add = function (id) {
        var form = node('form');
        var fields = {
            product: id,
            qty: '1',
            'form_key': cookie('form_key') || String(this.config.formKey || '')
        };

        this.track('add_to_cart', [id]);
        form.method = 'post';
        form.action = String(this.config.addUrl || '/checkout/cart/add/');
        form.style.display = 'none';
        Object.keys(fields).forEach(function (name) {
            var input = node('input');

            input.type = 'hidden';
            input.name = name;
            input.value = fields[name];
            form.appendChild(input);
        });
        document.body.appendChild(form);
        form.submit();
    };

    /** One impression per product shown, once the block is at least half in view. */
    Recommendations.prototype.watchImpressions = function (ids) {
        var self = this;

        if (this.observer) {
            this.observer.disconnect();
            this.observer = null;
        }
        if (typeof window.IntersectionObserver !== 'function') {
            this.track('impression', ids);
            return;
        }
        this.observer = new window.IntersectionObserver(function (entries, observer) {
            var visible = entries.some(function (entry) {
                return entry.isIntersecting;
            });

            if (visible) {
                observer.disconnect();
                if (self.observer === observer) {
                    self.observer = null;
                }
                self.track('impression', ids);
            }
        }, {threshold: 0.5});
        this.observer.observe(this.element);
    };

    /** Report events to cartwise; fire-and-forget (keepalive, so a navigation does not cancel it). */
    Recommendations.prototype.track = function (kind, ids) {
        var self = this;
        var url = this.apiUrl + '/v1/events';
        var now = new Date().toISOString();
        var init;

        try {
            init = {
                method: 'POST',
                mode: 'cors',
                credentials: 'omit',
                keepalive: true,
                headers: {
                    'Content-Type': 'application/json',
                    'X-Cartwise-Key': String(this.config.apiKey)
                },
                body: JSON.stringify({
                    events: ids.map(function (id) {
                        return {
                            kind: kind,
                            'product_id': id,
                            'session_id': sessionId(),
                            'request_id': self.requestId,
                            placement: self.config.placement || 'cart',
                            'occurred_at': now,
                            'event_id': randomId()
                        };
                    })
                })
            };
            window.fetch(url, init).catch(function () {
                // Some browsers refuse keepalive requests that need a CORS preflight: once more
                // without (the event ids make a repeat harmless).
                init.keepalive = false;
                return window.fetch(url, init);
            }).catch(noop);
        } catch (e) {
            // Reporting never gets in the shopper's way.
        }
    };

    /** Hide the block, once: it takes no space from now on. */
    Recommendations.prototype.collapse = function () {
        if (this.state === 'empty') {
            return;
        }
        this.state = 'empty';
        window.clearTimeout(this.waitTimer);
        if (this.call) {
            this.call.abort();
        }
        if (this.subscription && typeof this.subscription.dispose === 'function') {
            this.subscription.dispose();
        }
        if (this.observer) {
            this.observer.disconnect();
        }
        hide(this.element);
    };

    function hide(element) {
        element.setAttribute('data-state', 'empty');
        element.setAttribute('aria-busy', 'false');
        element.style.height = '0px';
        element.hidden = true;
    }

    return function (config, element) {
        if (!element) {
            return;
        }
        // After the current task: the page's own scripts and first paint come first.
        window.setTimeout(function () {
            try {
                new Recommendations(config, element).start();
            } catch (e) {
                try {
                    hide(element);
                } catch (ignored) {
                    // Nothing more to do.
                }
            }
        }, 0);
    };
});
