// Server-Sent Events over fetch(). EventSource cannot send an Authorization
// header, and a token in the URL would end up in logs; fetch can, so the
// access token travels the way it does on every other request.

/** One event of a text/event-stream body. */
export interface StreamEvent {
  event: string
  data: string
  id: string | null
}

/**
 * readEventStream parses a text/event-stream body (the WHATWG format) and
 * calls onEvent for each event. It resolves when the body ends and rejects
 * when reading fails. When nothing arrives for idleTimeout ms (the server
 * sends a keep-alive comment every 15 s) it cancels the body and resolves.
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (ev: StreamEvent) => void,
  idleTimeout = 0,
): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let timer: ReturnType<typeof setTimeout> | undefined
  const arm = (): void => {
    if (!idleTimeout) return
    clearTimeout(timer)
    timer = setTimeout(() => void reader.cancel().catch(() => {}), idleTimeout)
  }
  let buf = ''
  let ev = { event: '', data: [] as string[], id: null as string | null }
  const dispatch = (): void => {
    if (ev.data.length || ev.id !== null) onEvent({ event: ev.event || 'message', data: ev.data.join('\n'), id: ev.id })
    ev = { event: '', data: [], id: null }
  }
  try {
    arm()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      arm()
      buf += decoder.decode(value, { stream: true })
      let m: RegExpExecArray | null
      while ((m = /\r\n|\r|\n/.exec(buf))) {
        const line = buf.slice(0, m.index)
        buf = buf.slice(m.index + m[0].length)
        if (line === '') dispatch()
        else if (!line.startsWith(':')) field(ev, line)
      }
    }
  } finally {
    clearTimeout(timer)
  }
}

function field(ev: { event: string; data: string[]; id: string | null }, line: string): void {
  const i = line.indexOf(':')
  const name = i < 0 ? line : line.slice(0, i)
  let value = i < 0 ? '' : line.slice(i + 1)
  if (value.startsWith(' ')) value = value.slice(1)
  if (name === 'event') ev.event = value
  else if (name === 'data') ev.data.push(value)
  else if (name === 'id' && !value.includes('\0')) ev.id = value
}
