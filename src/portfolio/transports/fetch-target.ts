/** Where a transport writes the zip it fetches, and how much it may write. */
export interface FetchTarget {
  readonly path: string;
  readonly maxBytes: number;
  onProgress?(bytes: number): void;
}

export interface FetchedFile {
  readonly bytes: number;
  /** Lowercase hex sha1 of the bytes written. */
  readonly sha1: string;
}
