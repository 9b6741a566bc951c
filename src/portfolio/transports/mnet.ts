import { MnetFault } from '../../errors.js';
import type { MnetClient } from '../../mnet/client.js';
import { MethodPath } from '../../mnet/methods.js';
import type { Peer } from '../../mnet/peers.js';
import { importError } from '../import-data.js';
import type { FetchTarget, FetchedFile } from './fetch-target.js';

/**
 * Mahara's MnetImporterTransport (portfolio-import.md §3.1): fetch_file(token) on the peer, the base64
 * answer decoded straight to disk by the client's streaming path, so memory stays flat for any size.
 */
export async function fetchOverMnet(client: MnetClient, peer: Peer, token: string, target: FetchTarget): Promise<FetchedFile> {
  let fetched: FetchedFile;
  try {
    // The client counts body bytes: base64 of RC4 of base64 of the zip, 64/27 of its size. Progress is
    // shown in zip bytes, so it ends near the zip's size (the decrypting pass after the download is silent).
    const onProgress = target.onProgress;
    fetched = await client.callForFile(peer, MethodPath.fetchFile, [token], {
      path: target.path,
      maxBytes: target.maxBytes,
      ...(onProgress ? { onProgress: (bodyBytes: number) => onProgress(Math.floor((bodyBytes * 27) / 64)) } : {}),
    });
  } catch (err) {
    const detail = err instanceof MnetFault ? `${err.message} (${err.code})` : String(err);
    throw importError(`Failed to retrieve zipfile from remote server: ${detail}`, err);
  }
  // §3.1 step 3: an empty answer is a failed fetch, not an empty package.
  if (fetched.bytes === 0) throw importError('Failed to retrieve zipfile from remote server');
  return fetched;
}
