import { MethodPath, type MethodDefinition, type MethodRegistry } from '../mnet/methods.js';
import { fetchUser, newAssessment, newEnrolment, newGrade, newSection } from './handlers.js';

/** §10: "in a container named `schooltool`". */
export const SCHOOLTOOL_SERVICE = 'schooltool';

type Handler = MethodDefinition['handler'];

const returnsTrue = { type: 'boolean', description: 'true; a refusal is fault 0 with a message' } as const;

/** The five methods, by function name; each takes one struct (§10, the wiki's latest revision). */
const methods: ReadonlyArray<{ name: string; param: string; help: string; handler: Handler }> = [
  {
    name: MethodPath.schooltoolFetchUser,
    param: 'userdata',
    help: 'Creates or updates a user by idnumber: {username, firstname, lastname, idnumber, email}. New accounts may not log in until an admin allows it.',
    handler: fetchUser,
  },
  {
    name: MethodPath.schooltoolNewSection,
    param: 'sectiondata',
    help: 'Creates or updates a section (a Moodle course) by idnumber: {idnumber, name, teacheridnumber, segment}.',
    handler: newSection,
  },
  {
    name: MethodPath.schooltoolNewEnrolment,
    param: 'enrolmentdata',
    help: 'Enrols a user in a section or changes the enrolment: {sectionid, userid, role: student|teacher, status: active|withdrawn}.',
    handler: newEnrolment,
  },
  {
    name: MethodPath.schooltoolNewAssessment,
    param: 'assessmentdata',
    help: 'Creates or updates an assessment of a section by idnumber: {sectionid, idnumber, name, chapternum, honors_required, nonhonors_required, extra_credit, pointval}.',
    handler: newAssessment,
  },
  {
    name: MethodPath.schooltoolNewGrade,
    param: 'gradedata',
    help: 'Records or replaces the grade of one attempt: {assessmentid, userid, points_earned, excepted, attempt_num}.',
    handler: newGrade,
  },
];

/**
 * The `schooltool` service: published by default only to SchoolTool peers (an admin may publish it to
 * others per peer); we call nothing back, since in v1.0 data flows only from Moodle to the SIS (here, us).
 * `prefix` is Config.schooltoolMethodPrefix, ending in "/".
 */
export function registerSchooltoolMethods(registry: MethodRegistry, prefix: string): void {
  registry.registerService({
    name: SCHOOLTOOL_SERVICE,
    description: 'SchoolTool: users, sections, enrolments, assessments and grades keyed by shared idnumbers',
    publishedByDefaultTo: ['schooltool'],
    subscribedByDefaultTo: [],
  });
  for (const m of methods) {
    registry.register({
      path: `${prefix}${m.name}`,
      service: SCHOOLTOOL_SERVICE,
      params: [{ name: m.param, type: 'struct', description: `the ${m.param} struct` }],
      returns: returnsTrue,
      help: m.help,
      handler: m.handler,
    });
  }
}
