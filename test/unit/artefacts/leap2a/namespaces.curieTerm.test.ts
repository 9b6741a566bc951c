import { describe, expect, it } from 'vitest';
import { curieEquals, curieTerm, isInRole, prefixesFor } from '../../../../src/artefacts/leap2a/namespaces.js';

/** §6.3: namespaces by URI with every alias, and the three CURIE forms. */
const moodle = {
  leap2: 'http://terms.leapspecs.org/',
  categories: 'http://wiki.leapspecs.org/2A/categories',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
};
const archive = {
  x: 'https://web.archive.org/web/20100503000634/http://terms.leapspecs.org',
  c: 'https://web.archive.org/web/20120819100914/http://wiki.leapspecs.org:80/2A/categories',
  m: 'https://wiki.mahara.org/wiki/Developer_Area/Import//Export/LEAP_Extensions',
};
const old = {
  leap: 'http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#',
  leaptype: 'http://wiki.cetis.ac.uk/2009-03/LEAP2A_types#',
  categories: 'http://wiki.cetis.ac.uk/2009-03/LEAP2A_categories/',
};

describe('isInRole', () => {
  it.each([
    ['http://terms.leapspecs.org/', 'leap'],
    ['http://terms.leapspecs.org/', 'leaptype'],
    ['https://web.archive.org/web/20100503000634/http://terms.leapspecs.org', 'leap'],
    ['http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#', 'leap'],
    ['http://wiki.cetis.ac.uk/2009-03/LEAP2A_types#', 'leaptype'],
    ['http://wiki.leapspecs.org/2A/categories/', 'categories'],
    ['http://wiki.leapspecs.org/2A/categories', 'categories'],
    ['http://wiki.cetis.ac.uk/2009-03/LEAP2A_categories/', 'categories'],
    ['https://web.archive.org/web/20120819100914/http://wiki.leapspecs.org:80/2A/categories', 'categories'],
    ['http://wiki.mahara.org/Developer_Area/Import%2F%2FExport/LEAP_Extensions#', 'mahara'],
    ['https://wiki.mahara.org/wiki/Developer_Area/Import//Export/LEAP_Extensions', 'mahara'],
  ] as const)('%s is %s', (uri, role) => {
    expect(isInRole(uri, role)).toBe(true);
  });

  it('keeps the 2009-03 predicates and types apart', () => {
    expect(isInRole('http://wiki.cetis.ac.uk/2009-03/LEAP2A_types#', 'leap')).toBe(false);
    expect(isInRole('http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#', 'leaptype')).toBe(false);
    expect(isInRole('http://example.org/', 'leap')).toBe(false);
  });
});

describe('curieTerm', () => {
  it('reads p:T with p bound to any alias, whatever the prefix name', () => {
    expect(curieTerm('leap2:has_part', 'leap', moodle)).toBe('has_part');
    expect(curieTerm('x:has_part', 'leap', archive)).toBe('has_part');
    expect(curieTerm('leap:has_part', 'leap', old)).toBe('has_part');
    expect(curieTerm('leaptype:resource', 'leaptype', old)).toBe('resource');
    expect(curieTerm('categories:selection_type#', 'categories', moodle)).toBe('selection_type#');
    expect(curieTerm('c:selection_type#', 'categories', archive)).toBe('selection_type#');
  });

  it('reads [p:T]', () => {
    expect(curieTerm('[leap2:is_part_of]', 'leap', moodle)).toBe('is_part_of');
    expect(curieTerm('[nope:is_part_of]', 'leap', moodle)).toBeUndefined();
  });

  it('reads the full IRI with every alias', () => {
    expect(curieTerm('http://terms.leapspecs.org/has_part', 'leap', {})).toBe('has_part');
    expect(curieTerm('https://web.archive.org/web/20100503000634/http://terms.leapspecs.org/selection', 'leaptype', {})).toBe('selection');
    expect(curieTerm('http://wiki.leapspecs.org/2A/categories/selection_type#', 'categories', {})).toBe('selection_type#');
    expect(curieTerm('http://wiki.cetis.ac.uk/2009-03/LEAP2A_predicates#has_part', 'leap', {})).toBe('has_part');
  });

  it('does not match an unbound prefix, another namespace or a plain word', () => {
    expect(curieTerm('leap2:has_part', 'leap', {})).toBeUndefined();
    expect(curieTerm('rdf:type', 'leap', moodle)).toBeUndefined();
    expect(curieTerm('enclosure', 'leap', moodle)).toBeUndefined();
    expect(curieTerm('leap2:', 'leap', moodle)).toBeUndefined();
  });

  it('sees bindings inherited through the prototype chain (how sax keeps scopes)', () => {
    const inner = Object.create(moodle) as Record<string, string>;
    expect(curieEquals('leap2:has_part', 'leap', 'has_part', inner)).toBe(true);
    expect(prefixesFor('leap', inner)).toEqual(['leap2']);
  });
});
