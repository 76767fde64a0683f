package report

// Topics name what a live subscriber waits for: one job, or every job of one
// user. A Feed carries only these names, never job data: whoever wakes up
// re-reads the job through the Store as its own caller.
const (
	jobTopicPrefix  = "job:"
	userTopicPrefix = "user:"
)

// JobTopic is the topic of one job, by public job id.
func JobTopic(jobID string) string { return jobTopicPrefix + jobID }

// UserTopic is the topic of every job of one user.
func UserTopic(userID string) string { return userTopicPrefix + userID }

// Feed announces, within one process, that something changed. The worker's
// Observer calls and the API's own writes publish; live streams subscribe.
// Changes made by other processes are not announced here: subscribers also
// poll the store.
type Feed interface {
	// Publish wakes every subscription watching any of the topics. It never blocks.
	Publish(topics ...string)
	// Subscribe starts a subscription watching topics. Close it when done.
	Subscribe(topics ...string) Subscription
}

// Subscription is one subscriber's view of a Feed.
type Subscription interface {
	// Changed receives (coalesced) after a publish on a watched topic.
	Changed() <-chan struct{}
	// Watch adds topics; Unwatch removes them.
	Watch(topics ...string)
	Unwatch(topics ...string)
	// Close ends the subscription.
	Close()
}
