import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArtefactPlugin, FormatId } from '../../src/artefacts/plugin.js';
import { engines } from '../helpers/db.js';
import { startServiceOn, type ServiceUnderTest } from '../helpers/service-under-test.js';
import { createLocalUser, visibleText, WebClient } from '../helpers/web-client.js';

/** Plugin priorities per format/component (portfolio-import.md §4.4) over HTTP (issue 5). */
describe.each(engines)('admin plugin priorities page ($name)', (engine) => {
  let service: ServiceUnderTest;
  let admin: WebClient;
  const db = () => service.running.services.db;
  const plugin = (name: string): ArtefactPlugin => service.running.services.plugins.list().find((p) => p.name === name)!;
  const effective = async (name: string, format: FormatId) => (await service.running.services.plugins.priorities(db())).of(plugin(name), format);

  beforeAll(async () => {
    service = await startServiceOn(engine.name, { env: { PORTFOLIO_CRON: 'off' } });
    await createLocalUser(db(), { username: 'root', password: 'root-password-1', admin: true });
    await createLocalUser(db(), { username: 'student', password: 'student-password-1' });
    admin = new WebClient(service.wwwroot);
    await admin.login('root', 'root-password-1');
  });

  afterAll(async () => {
    await service?.stop();
  });

  beforeEach(async () => {
    await db()('import_plugin_priorities').delete();
  });

  /** The visible text of the table row for one plugin and format. */
  function rowText(body: string, format: string, name: string): string {
    const row = [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((m) => visibleText(m[1]!)).find((t) => t.startsWith(`${format} ${name} `));
    if (!row) throw new Error(`no row for ${name} ${format}`);
    return row;
  }

  it('lists each format/component with the plugins importing it and their declared, overridden and effective priorities', async () => {
    const page = await admin.get('/admin/plugins/');
    expect(page.status).toBe(200);
    expect(rowText(page.body, 'file/file', 'file')).toBe('file/file file 100 — 100 New priority Set priority');
    expect(rowText(page.body, 'LEAP/selection', 'blog')).toBe('LEAP/selection blog 100 — 100 New priority Set priority');
    expect(rowText(page.body, 'LEAP/*', 'file')).toMatch(/^LEAP\/\* file 110 — 110 /);
    expect(rowText(page.body, 'LEAP/*', 'blog')).toMatch(/^LEAP\/\* blog 10 — 10 /);
    // The highest effective priority first within a format.
    expect(page.body.indexOf('<td>LEAP/*</td>\n<td>file</td>')).toBeLessThan(page.body.indexOf('<td>LEAP/*</td>\n<td>blog</td>'));
    expect(page.body).not.toContain('>Reset</button>');
  });

  it('an override changes the effective priority the registry uses; Reset removes it', async () => {
    await admin.get('/admin/plugins/');
    const set = await admin.post('/admin/plugins/priority', { plugin: 'blog', format: 'LEAP/selection', priority: '120' });
    expect(set).toMatchObject({ status: 303, location: '/admin/plugins/' });
    expect(await effective('blog', 'LEAP/selection')).toBe(120);
    expect(await db()('import_plugin_priorities').select('plugin', 'format_id', 'priority')).toEqual([{ plugin: 'blog', format_id: 'LEAP/selection', priority: 120 }]);
    const page = await admin.get('/admin/plugins/');
    expect(visibleText(page.body)).toContain('blog now imports LEAP/selection with priority 120.');
    expect(rowText(page.body, 'LEAP/selection', 'blog')).toBe('LEAP/selection blog 100 120 120 New priority Set priority Reset');
    // Now above core and resume for LEAP/selection.
    expect(page.body.indexOf('<td>LEAP/selection</td>\n<td>blog</td>')).toBeLessThan(page.body.indexOf('<td>LEAP/selection</td>\n<td>core</td>'));

    const reset = await admin.post('/admin/plugins/reset', { plugin: 'blog', format: 'LEAP/selection' });
    expect(reset).toMatchObject({ status: 303, location: '/admin/plugins/' });
    expect(await effective('blog', 'LEAP/selection')).toBe(100);
    expect(await db()('import_plugin_priorities')).toHaveLength(0);
    const after = await admin.get('/admin/plugins/');
    expect(visibleText(after.body)).toContain('blog imports LEAP/selection with its declared priority again.');
    expect(rowText(after.body, 'LEAP/selection', 'blog')).toBe('LEAP/selection blog 100 — 100 New priority Set priority');
  });

  it('refuses a priority that is not a whole number, showing the form again with what was typed', async () => {
    for (const typed of ['abc', '1.5', '', '99999999999']) {
      await admin.get('/admin/plugins/');
      const refused = await admin.post('/admin/plugins/priority', { plugin: 'file', format: 'file/file', priority: typed });
      expect(refused.status).toBe(400);
      expect(visibleText(refused.body)).toContain('The priority of file for file/file must be a whole number, e.g. 120.');
      expect(refused.body).toMatch(new RegExp(`<tr class="highlight">\\s*<td>file/file</td>[\\s\\S]*?value="${typed}" aria-invalid="true"`));
    }
    const unknown = await admin.post('/admin/plugins/priority', { plugin: 'nosuch', format: 'file/file', priority: '5' });
    expect(unknown.status).toBe(400);
    expect(visibleText(unknown.body)).toContain('Unknown artefact plugin "nosuch"');
    const wrongFormat = await admin.post('/admin/plugins/priority', { plugin: 'blog', format: 'file/file', priority: '5' });
    expect(wrongFormat.status).toBe(400);
    expect(visibleText(wrongFormat.body)).toContain('blog does not import file/file');
    expect(await db()('import_plugin_priorities')).toHaveLength(0);
  });

  it('refuses anonymous visitors, students and posts without the CSRF token; escapes what it echoes', async () => {
    const anonymous = new WebClient(service.wwwroot);
    expect(await anonymous.get('/admin/plugins/')).toMatchObject({ status: 303, location: '/login?wantsurl=%2Fadmin%2Fplugins%2F' });
    expect((await anonymous.post('/admin/plugins/priority', { plugin: 'file', format: 'file/file', priority: '5' })).status).toBe(403);
    const student = new WebClient(service.wwwroot);
    await student.login('student', 'student-password-1');
    expect((await student.get('/admin/plugins/')).status).toBe(403);
    expect((await student.post('/admin/plugins/priority', { plugin: 'file', format: 'file/file', priority: '5' })).status).toBe(403);
    expect((await student.post('/admin/plugins/reset', { plugin: 'file', format: 'file/file' })).status).toBe(403);
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Origin: service.wwwroot };
    const forged = await admin.request('/admin/plugins/priority', { method: 'POST', body: 'plugin=file&format=file%2Ffile&priority=5', headers });
    expect(forged.status).toBe(403);
    expect(await db()('import_plugin_priorities')).toHaveLength(0);

    await admin.get('/admin/plugins/');
    const evil = await admin.post('/admin/plugins/priority', { plugin: '<img src=x onerror=alert(1)>', format: 'file/file', priority: 'x' });
    expect(evil.status).toBe(400);
    expect(evil.body).not.toContain('<img src=x');
    expect(evil.body).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });
});
