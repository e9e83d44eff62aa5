/**
 * What a peer can make this tab hold: every bound the mesh layer (peer-hub, chunker,
 * mesh-collective) enforces against a hostile or confused peer, in one place. A hit is logged
 * naming the peer and the limit, and costs that peer its message or its link, never anyone else's.
 */
export const MESH_LIMITS = {
  /**
   * Bytes a link may receive before an owner takes its data (a link nobody has claimed yet, or one
   * whose mesh is still forming): until every rank has claimed its links a mesh sends only ~50-byte
   * hello and heartbeat pings, and a single data frame (a 64 KiB chunk plus header) is already over.
   */
  earlyLinkBytes: 64 * 1024,
  /**
   * An incoming link nobody has claimed is closed after this: a mesh claims its links as soon as the
   * host's start arrives (milliseconds), and 15 s is also when a silent peer is called lost.
   */
  unclaimedLinkMs: 15_000,
  /**
   * Largest message from one peer and the bytes of its incomplete messages held at once (checked
   * on the declared size before anything is kept): 4× the largest mesh-check probe the control
   * channel allows (64 MiB) and 1000× the embedded model's largest exchange (a 256 KiB global
   * gather). An owner running a bigger model passes its own (MeshOptions.maxMessageBytes).
   */
  maxMessageBytes: 256 * 1024 * 1024,
  /** Incomplete messages per peer: its ordered channel carries one bulk message at a time; 4 is headroom. */
  maxIncompleteMessages: 4,
  /**
   * From a message's first chunk to its last: even a 256 MiB message completes in time at 4.5 MB/s,
   * and a message abandoned half-way frees its memory instead of holding it until the mesh closes.
   */
  incompleteMessageMs: 60_000,
} as const;
