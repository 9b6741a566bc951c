/** A site's wwwroot as MNet writes it on the wire: no surrounding space, no trailing slash (§ Conventions). */
export function trimWwwroot(wwwroot: string): string {
  return wwwroot.trim().replace(/\/+$/, '');
}
