import type { Config } from '../../config.js';
import type { StudentEnrolment, StudentGrade, StudentRecords, StudentSection } from '../../schooltool/student-records.js';
import { html, type SafeHtml } from '../html.js';
import { href } from '../page.js';
import { userPath } from './user-common.js';
import { timeOf } from '../format.js';

/**
 * The SchoolTool part of a user's page: the three lists a SchoolTool admin checks against their own
 * system, keyed by the idnumbers both sides share (§10), with values exactly as the peer sent them.
 */
export function renderSchooltoolRecords(config: Config, records: StudentRecords): SafeHtml {
  return html`<h3>Sections</h3>
${records.sections.length === 0 ? html`<p>This user is in no SchoolTool section.</p>` : sectionTable(config, records.sections)}
<h3>Enrolments</h3>
${records.enrolments.length === 0 ? html`<p>SchoolTool has sent no enrolments for this user.</p>` : enrolmentTable(records.enrolments)}
<h3>Grades</h3>
${records.grades.length === 0 ? html`<p>SchoolTool has sent no grades for this user.</p>` : gradeTable(records.grades)}`;
}

const none = html`<span class="muted">none</span>`;

function sectionTable(config: Config, sections: readonly StudentSection[]): SafeHtml {
  const rows = sections.map(
    (s) => html`<tr>
<td>${s.name}</td>
<td>${s.idnumber}</td>
<td>${s.segment ?? none}</td>
<td>${s.teacher ? html`<a href="${href(config, userPath(s.teacher))}">${s.teacher.fullName || s.teacher.username}</a>` : none}</td>
<td>${s.teachesIt ? 'Teacher of the section' : 'Enrolled'}</td>
<td>${s.site.peerName} (${s.site.wwwroot})</td>
</tr>`,
  );
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Section</th><th scope="col">Section id</th><th scope="col">Term</th><th scope="col">Teacher</th><th scope="col">This user</th><th scope="col">SchoolTool site</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}

function historyOf(enrolment: StudentEnrolment): SafeHtml {
  // The first event is the enrolment itself, already in the table; show the list only when something changed.
  if (enrolment.history.length <= 1) return html`<span class="muted">unchanged</span>`;
  return html`<ol>${enrolment.history.map((e) => html`<li>${e.role}, ${e.status} from ${timeOf(e.at)}</li>`)}</ol>`;
}

function enrolmentTable(enrolments: readonly StudentEnrolment[]): SafeHtml {
  const rows = enrolments.map(
    (e) => html`<tr>
<td>${e.sectionName}</td>
<td>${e.sectionIdnumber}</td>
<td>${e.role}</td>
<td>${e.status}</td>
<td>${timeOf(e.createdAt)}</td>
<td>${timeOf(e.updatedAt)}</td>
<td>${historyOf(e)}</td>
</tr>`,
  );
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Section</th><th scope="col">Section id</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Enrolled</th><th scope="col">Last changed</th><th scope="col">History</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}

function gradeTable(grades: readonly StudentGrade[]): SafeHtml {
  const rows = grades.map(
    (g) => html`<tr>
<td>${g.sectionName} <span class="muted">(${g.sectionIdnumber})</span></td>
<td>${g.assessmentName}${g.extraCredit ? ' (extra credit)' : ''}</td>
<td>${g.assessmentIdnumber}</td>
<td>${g.chapternum ?? none}</td>
<td>${g.pointsEarned ?? none}</td>
<td>${g.pointval ?? none}</td>
<td>${g.excepted ? 'Yes' : 'No'}</td>
<td>${g.attemptNum}</td>
<td>${timeOf(g.updatedAt)}</td>
</tr>`,
  );
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Section</th><th scope="col">Assessment</th><th scope="col">Assessment id</th><th scope="col">Chapter</th><th scope="col">Points earned</th><th scope="col">Out of</th><th scope="col">Excepted</th><th scope="col">Attempt</th><th scope="col">Graded</th></tr></thead>
<tbody>${rows}</tbody>
</table></div>`;
}
