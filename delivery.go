package main

import (
	"log/slog"

	"github.com/polaris/reportd/config"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/webhook"
)

// dispatcher builds the webhook dispatcher over the store's outbox.
func dispatcher(cfg config.Config, outbox report.Outbox, log *slog.Logger) (*webhook.Dispatcher, error) {
	w := cfg.Webhook
	return webhook.New(webhook.Config{
		BaseURL: w.BaseURL, Secret: w.Secret.Reveal(), Timeout: w.Timeout, MaxRetries: w.MaxRetries,
		BackoffBase: w.BackoffBase, BackoffMax: w.BackoffMax, PollInterval: w.PollInterval, PerUserPerMinute: w.PerUserPerMinute,
	}, outbox, log)
}
