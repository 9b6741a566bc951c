/**
 * LEAP2A namespaces by URI (portfolio-import.md §6.3). Every URI in a role's list denotes the same
 * namespace, whatever prefix a document binds it to and whichever version the document declares: the
 * 2010-07 URI, the 2009-03 one, and the web.archive.org forms Mahara ≥ 22.10 writes. Prefix names are never
 * looked at (Mahara's 2022 rewrite did, and stopped reading 2009-03 feeds; §9).
 */
export type NamespaceRole = 'atom' | 'rdf' | 'leap' | 'leaptype' | 'categories' | 'mahara' | 'xhtml';

export const LEAP_2010_PREDICATES = ['http://terms.leapspecs.org/', 'https://web.archive.org/web/20100503000634/http://terms.leapspecs.org'] as const;
export const LEAP_VERSION_2010 = 'http://www.leapspecs.org/2010-07/2A/';

const ALIASES: Readonly<Record<NamespaceRole, readonly string[]>> = {
  atom: ['http://www.w3.org/2005/Atom'],
  rdf: ['http://www.w3.org/1999/02/22-rdf-syntax-ns#'],
  // Links, persondata, dates…: in 2010-07 the predicates and the types share one namespace.
  leap: [...LEAP_2010_PREDICATES, 'http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#'],
  leaptype: [...LEAP_2010_PREDICATES, 'http://wiki.cetis.ac.uk/2009-03/LEAP2A_types#'],
  categories: [
    'http://wiki.leapspecs.org/2A/categories/',
    // Moodle still writes the slash-less form (measured).
    'http://wiki.leapspecs.org/2A/categories',
    'http://wiki.cetis.ac.uk/2009-03/LEAP2A_categories/',
    'https://web.archive.org/web/20120819100914/http://wiki.leapspecs.org:80/2A/categories',
  ],
  mahara: [
    'http://wiki.mahara.org/Developer_Area/Import%2F%2FExport/LEAP_Extensions#',
    'https://wiki.mahara.org/wiki/Developer_Area/Import//Export/LEAP_Extensions',
  ],
  xhtml: ['http://www.w3.org/1999/xhtml'],
};

const ROLES = Object.keys(ALIASES) as NamespaceRole[];

/** In-scope prefix → URI bindings of an element (the default namespace under the key ''). */
export type NamespaceBindings = Readonly<Record<string, string>>;

/** Trailing `/` and `#` do not tell two spellings of a namespace apart (the archive.org forms drop them). */
const canonical = (uri: string): string => uri.replace(/[/#]+$/, '');

const ROLE_BY_URI: ReadonlyMap<string, readonly NamespaceRole[]> = (() => {
  const map = new Map<string, NamespaceRole[]>();
  for (const role of ROLES) {
    for (const uri of ALIASES[role]) {
      const key = canonical(uri);
      map.set(key, [...(map.get(key) ?? []), role]);
    }
  }
  return map;
})();

export function isInRole(uri: string | undefined, role: NamespaceRole): boolean {
  return uri !== undefined && uri !== '' && (ROLE_BY_URI.get(canonical(uri))?.includes(role) ?? false);
}

export function aliasesOf(role: NamespaceRole): readonly string[] {
  return ALIASES[role];
}

/**
 * The local term a CURIE-valued attribute (`rel`, `rdf:resource`, category `scheme`) denotes in the
 * namespace `role`, or undefined when it denotes something else (§6.3):
 * `p:T` or `[p:T]` with `p` bound (in scope) to any alias of the role, or the full IRI `N + T` for any alias
 * `N`. For categories the term keeps its trailing `#` (`selection_type#`).
 */
export function curieTerm(value: string, role: NamespaceRole, bindings: NamespaceBindings): string | undefined {
  const v = value.trim();
  const bracketed = /^\[([^\]]*)\]$/.exec(v);
  const curie = bracketed ? bracketed[1]! : v;
  const colon = curie.indexOf(':');
  if (colon > 0) {
    const prefix = curie.slice(0, colon);
    const term = curie.slice(colon + 1);
    // `in` and a lookup through the prototype chain: sax keeps inherited bindings there.
    if (term !== '' && isInRole(bindings[prefix], role)) return term;
  }
  if (bracketed) return undefined;
  for (const alias of ALIASES[role]) {
    // The slash-less aliases are also tried with their slash, so `…/categories/selection_type#` matches both.
    const candidates = /[/#]$/.test(alias) ? [alias] : [`${alias}/`, alias];
    for (const n of candidates) {
      if (v.length > n.length && v.startsWith(n)) return v.slice(n.length);
    }
  }
  return undefined;
}

/** Whether `value` denotes `role` + `term` (a CURIE match, §6.3). */
export function curieEquals(value: string | undefined, role: NamespaceRole, term: string, bindings: NamespaceBindings): boolean {
  return value !== undefined && curieTerm(value, role, bindings) === term;
}

/** The prefixes a document binds to `role`'s namespace (the fix-up matches `rel="<leap-prefix>:has_part"`, §6.8). */
export function prefixesFor(role: NamespaceRole, bindings: NamespaceBindings): string[] {
  const prefixes: string[] = [];
  for (const prefix in bindings) {
    if (prefix !== '' && isInRole(bindings[prefix], role)) prefixes.push(prefix);
  }
  return prefixes;
}
