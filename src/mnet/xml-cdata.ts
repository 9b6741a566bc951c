const GT = 0x3e;
const RBRACKET = 0x5d;
const CDATA_CLOSE = Buffer.from(']]>', 'latin1');

/**
 * The text of a CDATA section arriving in pieces, for the streaming tokenizer (xml-stream.ts), up to its
 * `]]>`. A `]` or `]]` at the end of a piece is withheld, as it may start the `]]>`; it is text after all
 * when the next piece does not finish it.
 */
export class CdataScanner {
  /** How many `]` (0..2) at the end of the previous piece were withheld. */
  private withheld = 0;

  constructor(private readonly onText: (text: Buffer) => void) {}

  /**
   * Hands the section's text in `chunk` from `pos` on to onText. Returns the position just after `]]>`,
   * or -1 when the section goes on in the next piece.
   */
  scan(chunk: Buffer, pos: number): number {
    const n = chunk.length;
    while (this.withheld > 0 && pos < n) {
      const c = chunk[pos]!;
      if (c === GT && this.withheld === 2) {
        this.withheld = 0;
        return pos + 1;
      }
      if (c === RBRACKET && this.withheld < 2) {
        this.withheld++;
        pos++;
        continue;
      }
      // Not the end after all: the withheld brackets were text (a third `]` shifts the window by one).
      const give = c === RBRACKET ? 1 : this.withheld;
      this.onText(CDATA_CLOSE.subarray(0, give)); // `]`, or `]]`
      this.withheld -= give;
      if (c === RBRACKET) {
        this.withheld++;
        pos++;
      }
    }
    if (pos >= n) return -1;
    const close = chunk.indexOf(CDATA_CLOSE, pos);
    if (close >= 0) {
      if (close > pos) this.onText(chunk.subarray(pos, close));
      return close + 3;
    }
    // Withhold a trailing `]` or `]]`.
    let keep = 0;
    while (keep < 2 && n - 1 - keep >= pos && chunk[n - 1 - keep] === RBRACKET) keep++;
    if (n - keep > pos) this.onText(chunk.subarray(pos, n - keep));
    this.withheld = keep;
    return -1;
  }
}
