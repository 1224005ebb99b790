// A store-thread reply whose bulky strings travel after its JSON instead of inside it: `head` is
// sent as JSON, `tail` as it is, so text that is already JSON (a claimed job's payload) is neither
// escaped into a JSON string on the thread nor unescaped again on the event loop. On the wire:
// "\n" + JSON(reply with value = head) + "\n" + tail. JSON.stringify never writes a raw line
// break, so a reply that starts with one is framed, and its second one ends the head.
export class Framed {
  constructor(readonly head: unknown, readonly tail: string) {}
}

/** The wire text of a framed reply (thread-host.ts). */
export function frameReply(id: number, value: Framed): string {
  return `\n${JSON.stringify({ id, value: value.head })}\n${value.tail}`;
}

/** A reply as sent by the thread: its JSON, and the tail of a framed one (thread-store.ts). */
export function unframeReply<T>(text: string): { reply: T; tail: string | undefined } {
  if (text.charCodeAt(0) !== 10) return { reply: JSON.parse(text) as T, tail: undefined };
  const end = text.indexOf("\n", 1);
  return { reply: JSON.parse(text.slice(1, end)) as T, tail: text.slice(end + 1) };
}
