/**
 * HTML templating without a template engine: `html` is a tagged template that escapes every
 * interpolated value unless it is already SafeHtml, so a page cannot forget to escape a peer's or a
 * student's text. Arrays are joined; null, undefined and false render as nothing.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolated = SafeHtml | string | number | boolean | null | undefined | readonly Interpolated[];

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Markup that is safe by construction elsewhere (our sanitiser's output, a rendered fragment). */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
