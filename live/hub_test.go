package live

import (
	"sync"
	"testing"
	"time"

	"github.com/polaris/reportd/report"
)

func woken(s report.Subscription) bool {
	select {
	case <-s.Changed():
		return true
	case <-time.After(time.Second):
		return false
	}
}

func idle(s report.Subscription) bool {
	select {
	case <-s.Changed():
		return false
	default:
		return true
	}
}

func TestPublishWakesWatchersOnly(t *testing.T) {
	t.Parallel()
	h := New()
	one := h.Subscribe(report.JobTopic("job_1"))
	user := h.Subscribe(report.UserTopic("u1"))
	defer one.Close()
	defer user.Close()

	h.JobChanged("job_1")
	if !woken(one) || !idle(user) {
		t.Fatal("a job change must wake that job's subscribers only")
	}
	h.Publish(report.UserTopic("u1"))
	if !woken(user) || !idle(one) {
		t.Fatal("a user change must wake that user's subscribers only")
	}
	user.Watch(report.JobTopic("job_2"))
	h.JobChanged("job_2")
	if !woken(user) {
		t.Fatal("a topic added with Watch does not wake")
	}
	user.Unwatch(report.JobTopic("job_2"))
	h.JobChanged("job_2")
	if !idle(user) {
		t.Fatal("an unwatched topic still wakes")
	}
}

func TestChangesCoalesceAndNeverBlock(t *testing.T) {
	t.Parallel()
	h := New()
	s := h.Subscribe(report.JobTopic("j"))
	defer s.Close()
	for range 1000 {
		h.JobChanged("j") // nobody reads: must not block
	}
	if !woken(s) || !idle(s) {
		t.Fatal("many changes before a read must wake exactly once")
	}
}

func TestCloseForgetsTopics(t *testing.T) {
	t.Parallel()
	h := New()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := h.Subscribe(report.JobTopic("shared"), report.UserTopic(string(rune('a'+i%26))))
			h.Publish(report.JobTopic("shared"))
			s.Close()
			s.Close()
		}()
	}
	wg.Wait()
	h.mu.Lock()
	n := len(h.topics)
	h.mu.Unlock()
	if n != 0 || h.Subscribers(report.JobTopic("shared")) != 0 {
		t.Fatalf("%d topics left after every subscription closed", n)
	}
	closed := h.Subscribe()
	closed.Close()
	closed.Watch("late")
	if h.Subscribers("late") != 0 {
		t.Fatal("a closed subscription can watch again")
	}
}
