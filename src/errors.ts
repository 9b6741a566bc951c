/**
 * The one error class of the service. Every refusal, on the wire or in the CLI, is an MnetFault with a
 * numeric code from this table; tests assert on codes, never on message text.
 *
 * 0 and 6000–6014 are Mahara's server codes, 7023/7025 are Moodle's (mnet-protocol.md §7.6): Moodle sees
 * these, so their numbers must not change. 9000–9099 is our own range, for errors that stay on our side
 * (our client, configuration, the CLI) and never reach a peer as a fault of a specific meaning.
 */
export const FaultCode = {
  /** Application refusal from a method handler (Mahara's ImportException etc.); the text is the message. */
  Application: 0,
  NetworkingOff: 6012,
  NotXml: 6001,
  DecryptedNotXml: 6002,
  UnknownPeer: 6003,
  BadSignature: 6004,
  NotSignedAndEncrypted: 6005,
  SignedPayloadNotXml: 6007,
  NotXmlRpc: 6008,
  UnknownRoot: 6009,
  InvalidMethodName: 6010,
  NoSuchMethod: 6011,
  WrongHost: 6013,
  TimestampOutsideWindow: 6014,
  CannotDecrypt: 7023,
  OldKey: 7025,

  // ---- our own range: never sent to a peer with a meaning it relies on ----
  /** The peer could not be reached, timed out or answered with a non-200 status. */
  Transport: 9001,
  /** The peer's response was not a well-formed MNet response (not encrypted, not signed, bad XML). */
  BadResponse: 9002,
  /** The peer's response timestamp is too far ahead of our clock (one-sided check, §3.4). */
  TimeDrift: 9003,
  /** A certificate does not parse or does not belong to the wwwroot it claims (§5.3). */
  InvalidCertificate: 9004,
  /** A request or response body is larger than the configured cap. */
  BodyTooLarge: 9005,
  /** Bad input from an admin (CLI argument, configuration value). */
  InvalidInput: 9006,
  /** An environment setting is missing or malformed; the message names it. */
  InvalidConfiguration: 9008,
  /** Our client refuses to call a method of a service we do not subscribe to on that peer (§7.1). */
  NotSubscribed: 9009,
  /** The named peer is not registered (or deleted). */
  PeerNotFound: 9007,
  /** An SSO landing was refused (unknown IdP, SSO off, IdP said no, unknown or suspended user); shown to the browser. */
  SsoRefused: 9010,
  /** Saving a file would take the user over their quota (the RPC refuses with Mahara's code 0 text instead). */
  QuotaExceeded: 9011,
  /** A file's type is not allowed on this site (§5.4). */
  FileTypeNotAllowed: 9012,
  /** A queued import's user or peer is gone or disabled: no retry can mend it (portfolio-import.md §8 rows 42, 43). */
  ImportTargetGone: 9013,
  /** A local login was refused (wrong name or password, locked, suspended); the message says which it may say. */
  LoginFailed: 9014,
  /** A web page or form the caller may not use (not an admin, missing or wrong CSRF token). */
  Forbidden: 9015,
  /** A web page asked for something that does not exist, or not for this user. */
  NotFound: 9016,
  /** Unexpected failure inside our code; the message is not shown to peers. */
  Internal: 9099,
} as const;

export type FaultCodeValue = (typeof FaultCode)[keyof typeof FaultCode];

export interface MnetFaultOptions {
  cause?: unknown;
  /** Whether the message may be shown to the caller (peer, browser). Defaults to true except for Internal. */
  expose?: boolean;
}

export class MnetFault extends Error {
  readonly expose: boolean;

  constructor(
    readonly code: FaultCodeValue | number,
    message: string,
    options: MnetFaultOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MnetFault';
    this.expose = options.expose ?? code !== FaultCode.Internal;
  }
}

/** Turns anything thrown into an MnetFault, keeping the original as `cause` (graphile's coerceError). */
export function toFault(err: unknown): MnetFault {
  if (err instanceof MnetFault) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new MnetFault(FaultCode.Internal, message, { cause: err, expose: false });
}
