package main

import (
	"errors"
	"log/slog"

	"github.com/polaris/reportd/config"
	"github.com/polaris/reportd/report"
	"github.com/polaris/reportd/webhook"
)

// dispatcher builds the webhook dispatcher over the worker's store, which
// is also its outbox (both stores are).
func dispatcher(cfg config.Config, queue report.Queue, log *slog.Logger) (*webhook.Dispatcher, error) {
	outbox, ok := queue.(report.Outbox)
	if !ok {
		return nil, errors.New("the job store keeps no webhook outbox")
	}
	w := cfg.Webhook
	return webhook.New(webhook.Config{
		BaseURL: w.BaseURL, Secret: w.Secret.Reveal(), Timeout: w.Timeout, MaxRetries: w.MaxRetries,
		BackoffBase: w.BackoffBase, BackoffMax: w.BackoffMax, PollInterval: w.PollInterval,
	}, outbox, log)
}
