package handlers

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/polaris/reportd/report"
)

// Operator endpoints: service callers only (requireService), with or
// without a named user.

// operatorStats handles GET /v1/admin/stats: the old dashboard's statistics
// across users, computed by the store.
func (h *handler) operatorStats(c echo.Context) error {
	w, err := parseWindow(c.QueryParams())
	if err != nil {
		return err
	}
	st, err := h.Store.OperatorStats(c.Request().Context(), callerOf(c), w)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, operatorStatsViewOf(st))
}

// cleanup handles POST /v1/admin/cleanup: cleanup_expired_report_jobs() now.
func (h *handler) cleanup(c echo.Context) error {
	if h.Maintenance == nil {
		return report.Errorf(report.ErrUnavailable, "cleanup is not available on this instance")
	}
	n, err := h.Maintenance.Cleanup(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"deleted": n})
}

var windowParams = map[string]bool{"days": true, "top_days": true, "top_users": true}

func parseWindow(q url.Values) (report.StatsWindow, error) {
	w := report.DefaultStatsWindow
	v := &report.ValidationError{}
	var unknown []string
	for name := range q {
		if !windowParams[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		v.Add(name, "unknown query parameter %q", name)
	}
	for name, dst := range map[string]*int{"days": &w.Days, "top_days": &w.TopDays, "top_users": &w.TopUsers} {
		if s := q.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				v.Add(name, "%s must be a whole number", name)
				continue
			}
			*dst = n
		}
	}
	if err := v.OrNil(); err != nil {
		return w, err
	}
	return w, w.Check()
}
