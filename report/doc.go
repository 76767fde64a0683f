// Package report holds the domain of the report-job service: what a job is,
// the states it moves through, the errors every layer speaks, and the
// interfaces that storage adapters, LLM providers and the worker implement.
//
// It depends on the standard library only. Adapters (supabase, memory, llm)
// and the HTTP layer (handlers) import it; it imports none of them.
package report
