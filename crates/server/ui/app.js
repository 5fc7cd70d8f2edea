// drgdip web pages: a small single-page application over the JSON API.
// No framework and nothing fetched from outside the service: every element is
// built with DOM calls and every value is set as text (never as HTML), except
// the SVG charts, which the service draws and escapes itself.
'use strict';

const S = { token: sessionStorage.getItem('drgdip.token'), me: null, year: null };

const REASONS = { long_stay: '住院时间长', high_cost: '医疗费用高', new_technology: '新药耗新技术', critical_care: '危重/多学科诊疗' };
const STATUS = { pending: '待审核', approved: '通过', rejected: '不通过', open: '待答复', answered: '已答复', closed: '已办结', running: '进行中', done: '已完成', failed: '失败', grouped: '已入组' };
const PAY_AS = { fee_for_service: '按项目付费', adjusted_standard: '调整支付标准' };
const METHOD = { drg: 'DRG', dip: 'DIP', per_diem: '床日', fee_for_service: '按项目', none: '暂不支付' };
const DISPUTE_KIND = { grouping: '分组争议', payment: '支付争议', suggestion: '意见建议' };
const ROLE = { agency_admin: '经办机构管理员', agency_reviewer: '经办机构审核专家', hospital_user: '医疗机构用户' };

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

function toast(msg, isErr) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.style.background = isErr ? '#c92a2a' : '#212529';
  t.style.display = 'block';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.style.display = 'none'; }, 4000);
}

async function api(method, path, body, raw) {
  const headers = {};
  if (S.token) headers.Authorization = 'Bearer ' + S.token;
  let payload;
  if (raw !== undefined) { payload = raw; headers['Content-Type'] = 'application/octet-stream'; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  const r = await fetch(path, { method, headers, body: payload });
  if (r.status === 401 && path !== '/api/login') { logout(true); throw new Error('登录已过期，请重新登录'); }
  const type = r.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new Error((data && data.error && (data.error.message || data.error)) || ('HTTP ' + r.status));
  return data;
}

async function download(path, name, init) {
  const headers = { Authorization: 'Bearer ' + S.token };
  if (init && init.body) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, Object.assign({ headers }, init || {}));
  if (!r.ok) { toast('下载失败: HTTP ' + r.status, true); return; }
  const blob = await r.blob();
  const a = h('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a); a.click(); a.remove();
}

function exportXlsx(title, columns, rows) {
  const body = JSON.stringify({ title, columns: columns.map(c => c.label), rows: rows.map(r => columns.map(c => cellText(c, r))) });
  return download('/api/export.xlsx', title + '.xlsx', { method: 'POST', body });
}

const yuan = s => (s === null || s === undefined || s === '') ? '' : Number(s).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const pct = r => (r === null || r === undefined) ? '—' : (Number(r) * 100).toFixed(2) + '%';
const num = s => (s === null || s === undefined || s === '') ? '' : Number(s).toLocaleString('zh-CN', { maximumFractionDigits: 4 });
const when = ms => ms ? new Date(ms).toLocaleString('zh-CN', { hour12: false }) : '';
const tag = (s, dict) => h('span', { class: 'tag ' + s }, (dict || STATUS)[s] || s);

function cellText(c, r) {
  const v = typeof c.key === 'function' ? c.key(r) : r[c.key];
  return c.fmt ? c.fmt(v, r) : (v === null || v === undefined ? '' : v);
}

// A table with an XLSX export button. columns: {key, label, num, fmt, cell}
function table(title, columns, rows, opts) {
  opts = opts || {};
  const head = h('tr', {}, columns.map(c => h('th', { class: c.num ? 'num' : '' }, c.label)));
  const body = rows.map(r => h('tr', {}, columns.map(c => {
    const td = h('td', { class: c.num ? 'num' : '' });
    if (c.cell) td.append(c.cell(r)); else td.textContent = cellText(c, r);
    return td;
  })));
  return h('div', { class: 'panel', id: opts.id },
    h('div', { class: 'toolbar' }, h('strong', {}, title), h('span', { class: 'muted' }, `共 ${rows.length} 行`),
      rows.length ? h('button', { class: 'secondary', onclick: () => exportXlsx(title, columns, rows) }, '导出 Excel') : null,
      opts.tools || null),
    rows.length ? h('table', {}, h('thead', {}, head), h('tbody', {}, body)) : h('p', { class: 'muted' }, opts.empty || '暂无数据'));
}

// A table of the service's {title, columns:[{name,label}], rows:[[...]]} shape.
function serviceTable(t, opts) {
  if (!t || !t.columns) return null;
  const cols = t.columns.map((c, i) => ({ key: r => r[i], label: c.label || c, num: i > 0 && /^-?\d/.test(String((t.rows[0] || [])[i] || '')) }));
  return table(t.title || (opts && opts.title) || '', cols, t.rows, opts);
}

async function svgInto(el, path) {
  try {
    const text = await api('GET', path);
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg && svg.nodeName === 'svg') el.replaceChildren(document.importNode(svg, true));
  } catch (e) { el.textContent = '图表加载失败: ' + e.message; }
}

function card(k, v, id) { return h('div', { class: 'card' }, h('div', { class: 'k' }, k), h('div', { class: 'v', id }, v)); }

function isAgency() { return S.me && S.me.role !== 'hospital_user'; }

// ------------------------------------------------------------------ layout

function renderNav() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.replaceChildren(); who.replaceChildren();
  if (!S.me) return;
  const links = isAgency()
    ? [['#/dashboard', '统筹区总览'], ['#/upload', '上传结算清单'], ['#/special', '特例单议审核'], ['#/disputes', '争议与反馈'], ['#/settlement', '结算'], ['#/reports', '报表'], ['#/bulletin', '特例单议通报']]
    : [['#/institution/' + S.me.institution_id, '本院概况'], ['#/upload', '上传结算清单'], ['#/special', '特例单议'], ['#/disputes', '争议与反馈'], ['#/settlement', '结算单'], ['#/reports', '月度反馈']];
  for (const [href, label] of links) nav.append(h('a', { href, class: location.hash.startsWith(href) ? 'active' : '' }, label));
  who.append(`${S.me.display_name || S.me.username}（${ROLE[S.me.role] || S.me.role}${S.me.institution_id ? ' · ' + S.me.institution_id : ''}）`,
    h('button', { class: 'secondary', id: 'logout', onclick: () => logout(false) }, '退出'));
}

function logout(expired) {
  if (S.token && !expired) fetch('/api/logout', { method: 'POST', headers: { Authorization: 'Bearer ' + S.token } });
  S.token = null; S.me = null;
  sessionStorage.removeItem('drgdip.token');
  location.hash = '#/login';
  renderNav();
}

function page(...kids) {
  document.getElementById('main').replaceChildren(...kids.flat(Infinity).filter(k => k !== null && k !== undefined && k !== false));
  renderNav();
}

// ------------------------------------------------------------------ pages

function loginPage() {
  const err = h('p', { class: 'err', id: 'login-error' });
  const form = h('form', { class: 'login', onsubmit: async ev => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const r = await api('POST', '/api/login', { username: form.querySelector('#login-user').value, password: form.querySelector('#login-pass').value });
      S.token = r.token; S.me = r.user;
      sessionStorage.setItem('drgdip.token', r.token);
      location.hash = isAgency() ? '#/dashboard' : '#/institution/' + S.me.institution_id;
    } catch (e) { err.textContent = '登录失败：' + e.message; }
  } },
  h('h1', {}, '用户登录'),
  h('label', { for: 'login-user' }, '用户名'), h('input', { id: 'login-user', autocomplete: 'username', required: true }),
  h('label', { for: 'login-pass' }, '密码'), h('input', { id: 'login-pass', type: 'password', autocomplete: 'current-password', required: true }),
  h('button', { id: 'login-btn', type: 'submit' }, '登录'), err);
  page(form);
}

function yearPicker(year, go) {
  const sel = h('select', { id: 'year', onchange: () => go(Number(sel.value)) });
  for (let y = 2023; y <= 2027; y++) sel.append(h('option', { value: y, selected: y === year }, y + '年'));
  return h('label', {}, '年度 ', sel);
}

function kpis(t, settlement) {
  const cards = [
    card('出院病例数', num(t.cases), 'kpi-cases'),
    card('入组率', pct(t.group_rate), 'kpi-group-rate'),
    card('病例组合指数 CMI', t.cmi || '—', 'kpi-cmi'),
    card('总权重', num(t.total_weight)),
    card('总点数', num(t.points), 'kpi-points'),
    card('预估支付（元，可支付病例）', yuan(t.estimated_yuan), 'kpi-yuan'),
    card('暂缓支付（质控未通过）', `${num(t.withheld_cases)} 例 / ${yuan(t.withheld_estimated_yuan)} 元`, 'kpi-withheld'),
    card('DRG/DIP 付费占比（按金额）', pct(t.drg_payment_share)),
    card('质控错误 / 提示', `${t.qc_errors} / ${t.qc_warnings}`),
  ];
  if (t.estimate_unavailable_cases) cards.push(card('无法预估（点值或折算率未知）', `${num(t.estimate_unavailable_cases)} 例` + (t.points_pending_cases ? `，其中点数待定 ${num(t.points_pending_cases)} 例` : ''), 'kpi-no-estimate'));
  if (t.estimate_override_cases) cards.push(card('按人工指定点值预估', `${num(t.estimate_override_cases)} 例（--point-value）`));
  if (t.institutions > 1) cards.splice(1, 0, card('机构覆盖（有病例/定点）', `${t.institutions_with_cases} / ${t.institutions}`));
  if (settlement && settlement.summary) {
    const budget = (settlement.summary.budget || []).reduce((a, l) => a + Number(l.annual), 0);
    if (budget) cards.push(card('年度预算（元）', yuan(budget)));
    const pv = ((settlement.summary.point_values || {}).rows || []).filter(r => !String(r[0]).includes('Q'));
    for (const r of pv) cards.push(card(`年度点值 ${r[1]}${r[3] ? '/' + r[3] : ''}（元/点）`, r[6] || '—'));
  }
  return h('div', { class: 'cards', id: 'kpis' }, cards);
}

async function dashboardPage(year) {
  if (!isAgency()) { location.hash = '#/institution/' + S.me.institution_id; return; }
  const d = await api('GET', '/api/dashboard' + (year ? '?year=' + year : ''));
  S.year = d.year;
  const c1 = h('div', { class: 'panel', id: 'chart-monthly' }, '…');
  const c2 = h('div', { class: 'panel', id: 'chart-point-values' }, '…');
  const inst = table('机构运行情况', [
    { key: 'institution_id', label: '机构编码', cell: r => h('a', { href: '#/institution/' + r.institution_id }, r.institution_id) },
    { key: 'name', label: '机构名称' }, { key: 'level', label: '级别' },
    { key: 'cases', label: '病例数', num: true }, { key: 'group_rate', label: '入组率', num: true, fmt: pct },
    { key: 'cmi', label: 'CMI', num: true }, { key: 'points', label: '总点数', num: true, fmt: num },
    { key: 'estimated_yuan', label: '预估支付（元）', num: true, fmt: yuan },
    { key: 'qc_errors', label: '质控错误', num: true }, { key: 'qc_warnings', label: '质控提示', num: true },
    { key: r => `${(r.special_cases || {}).approved || 0} / ${Object.values(r.special_cases || {}).reduce((a, b) => a + b, 0)}`, label: '特例单议（通过/申请）', num: true },
  ], d.institutions, { id: 'institutions' });
  const s = d.settlement;
  page(h('h1', {}, `统筹区总览 · ${d.year}年`),
    h('div', { class: 'toolbar' }, yearPicker(d.year, y => dashboardPage(y))),
    kpis(d.totals, s),
    h('div', { class: 'charts' }, c1, c2),
    inst,
    s && s.summary ? serviceTable(s.summary.summary, { id: 'settlement-summary' }) : h('div', { class: 'panel muted' }, `${d.year}年尚无结算记录。`));
  svgInto(c1, '/api/charts/monthly.svg?year=' + d.year);
  svgInto(c2, '/api/charts/point-values.svg?year=' + d.year);
}

async function institutionPage(id, year, offset) {
  offset = offset || 0;
  const q = `year=${year || S.year || ''}&institution_id=${encodeURIComponent(id)}`.replace('year=&', '');
  const d = await api('GET', '/api/dashboard?' + q);
  S.year = d.year;
  const inst = (await api('GET', '/api/institutions/' + encodeURIComponent(id)));
  const cases = await api('GET', `/api/institutions/${encodeURIComponent(id)}/cases?period_from=${d.year}-01&period_to=${d.year}-12&limit=100&offset=${offset}`);
  const scs = await api('GET', '/api/special-cases?institution_id=' + encodeURIComponent(id));
  const chart = h('div', { class: 'panel', id: 'chart-monthly' }, '…');
  const casesTable = table(`病例（第 ${offset + 1}–${offset + cases.length} 例，最新版本）`, [
    { key: 'case_id', label: '病例号', cell: r => h('a', { href: `#/case/${encodeURIComponent(r.institution_id)}/${encodeURIComponent(r.case_id)}`, class: 'case-link' }, r.case_id) },
    { key: 'version', label: '版本', num: true }, { key: 'period', label: '出院月份' },
    { key: r => r.result.drg, label: '病组（DRG/DIP）' }, { key: r => r.result.drg_name, label: '病组名称' },
    { key: r => STATUS[r.result.status] || r.result.status, label: '分组状态' },
    { key: r => METHOD[r.result.method] || r.result.method, label: '支付方式' },
    { key: r => r.result.points, label: '点数', num: true, fmt: v => v === '' ? '待定' : num(v) },
    { key: r => estimateText(r.result), label: '预估（元）', num: true },
    { key: r => r.result.payable ? '可支付' : '暂缓支付（' + r.result.withheld + '）', label: '支付状态' },
  ], cases, { id: 'cases', tools: [
    offset > 0 ? h('button', { class: 'secondary', onclick: () => institutionPage(id, d.year, Math.max(0, offset - 100)) }, '上一页') : null,
    cases.length === 100 ? h('button', { class: 'secondary', onclick: () => institutionPage(id, d.year, offset + 100) }, '下一页') : null] });
  const scTable = table('特例单议', [
    { key: 'id', label: '编号', num: true }, { key: 'case_id', label: '病例号' }, { key: 'reason', label: '原因', fmt: v => REASONS[v] || v },
    { key: 'quarter', label: '季度' }, { key: 'status', label: '状态', cell: r => tag(r.status) },
    { key: 'pay_as', label: '支付方式', fmt: v => PAY_AS[v] || '' }, { key: 'comment', label: '审核意见' },
  ], scs, { id: 'institution-special' });
  page(h('h1', {}, `${inst.name || id}（${id}）· ${d.year}年`),
    h('div', { class: 'toolbar' }, yearPicker(d.year, y => institutionPage(id, y)), h('span', { class: 'muted' }, `级别：${inst.level || '—'}${inst.alliance_lead ? ' · 医共体牵头：' + inst.alliance_lead : ''}`)),
    kpis(d.totals, d.settlement), chart, casesTable,
    table('质控问题（按规则）', [{ key: 'rule_id', label: '规则' }, { key: 'count', label: '例数', num: true },
      { key: 'example_case', label: '示例病例', cell: r => h('a', { href: `#/case/${encodeURIComponent(id)}/${encodeURIComponent(r.example_case)}` }, r.example_case) },
      { key: 'example', label: '说明' }], d.qc_rules || [], { id: 'institution-qc', empty: '本年度无质控问题' }),
    scTable, await statementsPanel(d.settlement, id));
  svgInto(chart, `/api/charts/monthly.svg?${q}`);
}

async function statementsPanel(settlement, inst) {
  if (!settlement) return h('div', { class: 'panel muted' }, '本年度尚无结算记录。');
  const run = await api('GET', '/api/settlement/runs/' + settlement.run_id);
  const docs = run.documents.filter(d => d.institution_id === inst);
  return h('div', { class: 'panel', id: 'statements' }, h('strong', {}, `结算单（第 ${settlement.run_id} 次结算）`), ' ',
    docs.map(d => h('button', { class: 'secondary', onclick: () => download(`/api/settlement/runs/${settlement.run_id}/documents/${encodeURIComponent(d.name)}`, d.name) }, '下载 ' + d.name)));
}

// The estimate of a stored result: yuan, or why there is none (never a made-up 0).
function estimateOf(r) { try { return r.estimate_json ? JSON.parse(r.estimate_json) : null; } catch (e) { return null; } }
function estimateText(r) {
  const e = estimateOf(r);
  if (!e) return '未记录';
  if (e.status === 'unavailable') return '无法预估';
  return yuan(e.yuan) + (e.status === 'override' ? '（人工点值）' : '');
}
const pend = v => (v === null || v === undefined) ? '待定（折算率未知）' : String(v);

function pointsRows(p) {
  const rows = [
    ['支付方式', METHOD[p.method] || p.method], ['适用规则', p.rule], ['病组', p.group || '—'], ['权重 RW', p.weight ?? '—'],
    ['病组均费（元）', p.mean_cost ?? '—'], ['费用倍率', p.ratio ?? '—'], ['高/低倍率界值', p.threshold ?? '—'],
    ['系数', `${p.coefficient}（${p.coefficient_source}）`], ['基准点数', p.base_points], ['病例点数', pend(p.case_points)],
    ['附加点数（新药耗）', pend(p.addon_points)], ['总点数', pend(p.total)], ['点数计入机构', p.credited_to],
    ['折算率（元/点）', p.yuan_per_point === null || p.yuan_per_point === undefined ? (p.points_pending ? '未知' : '未使用') : p.yuan_per_point],
  ];
  if (p.points_pending) rows.push(['点数待定原因', p.points_pending]);
  if (p.per_diem_category) rows.push(['床日类别', p.per_diem_category]);
  return h('dl', { class: 'kv', id: 'points-breakdown' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
}

async function casePage(inst, caseId) {
  const d = await api('GET', `/api/institutions/${encodeURIComponent(inst)}/cases/${encodeURIComponent(caseId)}`);
  const v = d.versions[d.versions.length - 1];
  const r = v.result;
  let p = {};
  try { p = JSON.parse(r.points_json); } catch (e) { /* shown as empty */ }
  const c = v.claim || {};
  const actions = [];
  if (!isAgency()) {
    const reason = h('select', { id: 'sc-reason' }, Object.entries(REASONS).map(([k, l]) => h('option', { value: k }, l)));
    const note = h('textarea', { id: 'sc-note', placeholder: '申请理由（病情、诊疗经过、费用构成）' });
    actions.push(h('div', { class: 'panel' }, h('strong', {}, '申请特例单议'),
      r.payable ? null : h('p', { class: 'err', id: 'sc-qc-warning' }, `注意：该病例最新版本未通过质控规则 ${r.withheld.split(',').join('、')}，暂缓支付；请先更正并重新上传，否则审核专家不能批准（除非说明理由特批）。`),
      h('div', { class: 'toolbar' }, '原因 ', reason),
      note, h('button', { id: 'sc-apply', onclick: async () => {
        try {
          const sc = await api('POST', '/api/special-cases', { case_id: caseId, reason: reason.value, note: note.value });
          toast(`已提交特例单议申请（编号 ${sc.id}，${sc.quarter}）` + (sc.qc_warning ? '。' + sc.qc_warning : ''), !!sc.qc_warning);
          casePage(inst, caseId);
        } catch (e) { toast('申请失败：' + e.message, true); }
      } }, '提交申请')));
    const kind = h('select', { id: 'dispute-kind' }, ['grouping', 'payment'].map(k => h('option', { value: k }, DISPUTE_KIND[k])));
    const body = h('textarea', { id: 'dispute-body', placeholder: '争议内容' });
    actions.push(h('div', { class: 'panel' }, h('strong', {}, '提出争议'), h('div', { class: 'toolbar' }, '类型 ', kind), body,
      h('button', { onclick: async () => {
        try { await api('POST', '/api/disputes', { case_id: caseId, kind: kind.value, body: body.value }); toast('争议已提交'); }
        catch (e) { toast('提交失败：' + e.message, true); }
      } }, '提交争议')));
  }
  const scs = await api('GET', `/api/special-cases?institution_id=${encodeURIComponent(inst)}`);
  const mine = scs.filter(s => s.case_id === caseId);
  page(h('h1', {}, `病例 ${caseId}`),
    h('div', { class: 'panel' }, h('dl', { class: 'kv', id: 'case-group' },
      [['机构', inst], ['版本', `${v.version}（共 ${d.versions.length} 版）`], ['出院日期', v.discharge_date || '—'],
       ['主要诊断', c.main_diagnosis || '—'], ['其他诊断', (c.other_diagnoses || []).join('，') || '—'],
       ['手术操作', (c.procedures || []).map(x => x.code).join('，') || '—'], ['住院天数', c.los ?? '—'], ['总费用（元）', c.total_cost ?? '—'],
       ['MDC', r.mdc], ['ADRG', r.adrg], ['病组（DRG/DIP）', `${r.drg} ${r.drg_name}`], ['分组状态', STATUS[r.status] || r.status],
       ['支付状态', r.payable ? '可支付' : '暂缓支付'],
       ['预估支付（元）', estimateText(r)]].map(([k, x]) => [h('dt', {}, k), h('dd', {}, String(x))]))),
    withheldPanel(v),
    estimatePanel(estimateOf(r)),
    h('h2', {}, '点数计算'), h('div', { class: 'panel' }, pointsRows(p)),
    h('h2', {}, '分组过程'), h('pre', { class: 'trace', id: 'trace' }, r.trace),
    table('质控结果', [{ key: 'rule_id', label: '规则' }, { key: 'severity', label: '级别', fmt: s => s === 'error' ? '错误' : '提示' }, { key: 'field', label: '字段' }, { key: 'value', label: '值' }, { key: 'message', label: '说明' }], v.findings || [], { id: 'findings', empty: '无质控问题' }),
    mine.length ? table('本病例特例单议', [{ key: 'id', label: '编号' }, { key: 'reason', label: '原因', fmt: x => REASONS[x] || x }, { key: 'status', label: '状态', cell: s => tag(s.status) }, { key: 'comment', label: '审核意见' }], mine, { id: 'case-special' }) : null,
    actions);
}

// Why a case version is withheld and what to fix.
function withheldPanel(v) {
  if (v.result.payable) return null;
  const rows = v.withheld_findings || [];
  return h('div', { class: 'panel warn', id: 'case-withheld' },
    h('strong', {}, `暂缓支付：本版本（第 ${v.version} 版）未通过质控规则 ${v.result.withheld.split(',').join('、')}`),
    h('p', {}, '结算清单合规是结算的必要条件：病例已分组计点，但点数不计入结算，直至更正后的版本（同一病例号重新上传）通过质控。需更正的内容：'),
    h('ul', { id: 'case-withheld-fix' }, rows.map(f => h('li', {}, `${f.rule_id}${f.field ? '（字段 ' + f.field + (f.value ? ' = ' + f.value : '') + '）' : ''}：${f.message}`))));
}

// The estimate's derivation: rate, expected point value, the numbers behind them.
function estimatePanel(e) {
  if (!e) return h('div', { class: 'panel muted', id: 'case-estimate' }, '预估支付：本版本上传时未记录预估依据。');
  const lines = [];
  if (e.status === 'unavailable') lines.push(h('p', { class: 'err' }, '无法预估：' + (e.reason || '')));
  else {
    lines.push(h('p', {}, `预估支付 ${yuan(e.yuan)} 元 = ${e.points} 点 × ${e.point_value} 元/点` + (e.line ? `（预算线 ${e.line}）` : '')));
    if (e.status === 'override') lines.push(h('p', { class: 'err' }, e.reason));
    if (e.basis && e.basis.text) lines.push(h('p', { class: 'muted' }, e.basis.text));
    if (e.basis && e.basis.rate) lines.push(h('p', { class: 'muted' }, '折算率：' + e.basis.rate));
  }
  return h('div', { class: 'panel', id: 'case-estimate' }, h('strong', {}, '预估支付依据'), lines);
}

function uploadPage() {
  const file = h('input', { type: 'file', id: 'upload-file', accept: '.csv,.jsonl,.json,.xlsx' });
  const out = h('div', { id: 'upload-result' });
  const btn = h('button', { id: 'upload-btn', onclick: async () => {
    const f = file.files[0];
    if (!f) { toast('请选择文件', true); return; }
    btn.disabled = true;
    // The service reads, checks, groups, prices and writes the file as it arrives;
    // its progress (by a key of this upload) is shown until the answer comes.
    const key = 'ui-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    const status = h('p', { class: 'muted', id: 'upload-progress' }, `正在上传 ${f.name}（${(f.size / 1048576).toFixed(1)} MB）：边接收边质控、分组与计算点数…`);
    out.replaceChildren(status);
    let polling = true;
    (async () => {
      while (polling) {
        await new Promise(ok => setTimeout(ok, 1000));
        if (!polling) break;
        try {
          const p = await api('GET', '/api/uploads/progress/' + key);
          if (polling) status.textContent = `${p.stage_zh}：已接收 ${(p.bytes_received / 1048576).toFixed(1)}` + (p.bytes_expected ? ` / ${(p.bytes_expected / 1048576).toFixed(1)}` : '') + ` MB，已读取 ${num(p.records_read)} 条，已写入 ${num(p.records_written)} 条（整批写入完成前不生效）`;
        } catch (e) { /* not started yet */ }
      }
    })();
    try {
      const r = await api('POST', '/api/uploads?name=' + encodeURIComponent(f.name) + '&progress=' + key, undefined, f);
      polling = false;
      const held = r.cases.filter(c => !c.payable);
      out.replaceChildren(
        h('p', { class: r.rejected_total || r.withheld ? 'err' : 'ok', id: 'upload-summary' }, `上传批次 ${r.upload_id}：读取 ${r.records} 条，接收 ${r.accepted} 条，拒收 ${r.rejected_total} 条；其中暂缓支付 ${r.withheld} 条（质控未通过）` + (r.estimate_unavailable ? `，无法预估 ${r.estimate_unavailable} 条` : '') + '。'),
        r.cases_listed < r.accepted || r.rejected_listed < r.rejected_total ? h('p', { class: 'muted', id: 'upload-listed' }, `下表列出前 ${num(r.cases_listed)} 条病例与前 ${num(r.rejected_listed)} 条拒收记录；全部病例见“病例”页（按机构与出院月份查询），全部拒收记录见本批次详情。`) : null,
        h('p', { class: r.line_count.rejected ? 'err' : 'muted', id: 'upload-lines' },
          `文件共 ${r.line_count.lines} 行 = 表头 ${r.line_count.header} + 读入 ${r.line_count.read} + 无法读取 ${r.line_count.rejected} + 空行 ${r.line_count.blank}` +
          (r.line_count.rejected ? '；无法读取的行见下方拒收记录（行号与原因），其余记录照常处理。' : '。')),
        table('分组结果', [
          { key: 'case_id', label: '病例号', cell: c => h('a', { href: `#/case/${encodeURIComponent(c.institution_id)}/${encodeURIComponent(c.case_id)}`, class: 'case-link' }, c.case_id) },
          { key: 'version', label: '版本', num: true }, { key: 'drg', label: '病组（DRG/DIP）' }, { key: 'status', label: '分组状态', fmt: s => STATUS[s] || s },
          { key: 'points', label: '点数', num: true, fmt: (v, c) => c.points_pending ? '待定' : num(v) },
          { key: 'yuan', label: '预估（元）', num: true, fmt: (v, c) => c.estimate_status === 'unavailable' ? '无法预估' : yuan(v) + (c.estimate_status === 'override' ? '（人工点值）' : '') },
          { key: c => c.payable ? '可支付' : '暂缓支付', label: '支付状态', cell: c => h('span', { class: c.payable ? 'tag approved' : 'tag rejected' }, c.payable ? '可支付' : '暂缓支付') },
          { key: c => c.withheld.map(w => w.rule_id).join('、'), label: '未通过规则' },
          { key: c => c.findings.length, label: '质控问题', num: true },
        ], r.cases, { id: 'upload-cases' }),
        held.length ? table('暂缓支付病例：请更正后以同一病例号重新上传', [
          { key: 'line', label: '行' }, { key: 'case_id', label: '病例号' },
          { key: c => c.withheld.map(w => w.rule_id).join('、'), label: '规则' },
          { key: c => c.withheld.map(w => w.message).join('；'), label: '需更正的内容' },
        ], held, { id: 'upload-withheld' }) : null,
        r.cases.some(c => c.estimate_status === 'unavailable') ? h('p', { class: 'muted', id: 'upload-no-estimate' }, '无法预估：' + [...new Set(r.cases.filter(c => c.estimate_reason && c.estimate_status === 'unavailable').map(c => c.estimate_reason))].join('；')) : null,
        r.rejected.length ? table('拒收记录', [{ key: 'line', label: '行' }, { key: 'case_id', label: '病例号' }, { key: 'rule_id', label: '规则' }, { key: 'field', label: '字段' }, { key: 'message', label: '原因' }], r.rejected) : null);
    } catch (e) { polling = false; out.replaceChildren(h('p', { class: 'err' }, '上传失败：' + e.message + '（本批次未保存，可更正后重新上传）')); }
    btn.disabled = false;
  } }, '上传并分组');
  page(h('h1', {}, '上传结算清单'),
    h('div', { class: 'panel' }, h('p', { class: 'muted' }, '支持 CSV（UTF-8/GBK，中文或英文表头）、JSON Lines、XLSX。每条记录即时质控、分组并计算预估点数与金额；重复上传的病例保存为新版本。'),
      h('div', { class: 'toolbar' }, file, btn)), out);
}

async function specialPage(status) {
  status = status === undefined ? (isAgency() ? 'pending' : '') : status;
  const list = await api('GET', '/api/special-cases' + (status ? '?status=' + status : ''));
  const filter = h('select', { id: 'sc-filter', onchange: () => specialPage(filter.value) },
    [['', '全部'], ['pending', '待审核'], ['approved', '通过'], ['rejected', '不通过']].map(([v, l]) => h('option', { value: v, selected: v === status }, l)));
  const cols = [
    { key: 'id', label: '编号', num: true }, { key: 'institution_id', label: '机构' },
    { key: 'case_id', label: '病例号', cell: r => h('a', { href: `#/case/${encodeURIComponent(r.institution_id)}/${encodeURIComponent(r.case_id)}` }, r.case_id) },
    { key: 'reason', label: '原因', fmt: v => REASONS[v] || v }, { key: 'note', label: '申请说明' }, { key: 'quarter', label: '季度' },
    { key: 'status', label: '状态', cell: r => tag(r.status) }, { key: 'pay_as', label: '支付方式', fmt: (v, r) => (PAY_AS[v] || '') + (r.adjusted_points ? `（${r.adjusted_points} 点）` : '') },
    { key: 'comment', label: '审核意见' },
    { key: 'latest_withheld', label: '质控', cell: r => r.latest_withheld ? h('span', { class: 'tag rejected', 'data-withheld': r.id }, '暂缓支付：' + r.latest_withheld.split(',').join('、')) : h('span', { class: 'muted' }, '通过') },
    { key: 'qc_override', label: '质控特批理由', fmt: (v, r) => v ? `${v}（规则 ${r.qc_withheld || ''}）` : '' },
  ];
  if (isAgency()) cols.push({ key: 'id', label: '审核', cell: r => r.status !== 'pending' ? h('span', { class: 'muted' }, when(r.reviewed_at)) : reviewCell(r) });
  page(h('h1', {}, isAgency() ? '特例单议审核' : '特例单议'),
    h('div', { class: 'toolbar' }, '状态 ', filter, h('span', { class: 'muted' }, '特例单议名额：DRG 出院病例的 5%、DIP 出院病例的 5‰，按季度审核；通过的病例进入下一次结算。')),
    table('特例单议申请', cols, list, { id: 'special-list' }));
}

function reviewCell(r) {
  const comment = h('input', { placeholder: '审核意见', class: 'sc-comment', 'data-id': r.id, size: 14 });
  const pts = h('input', { placeholder: '调整点数', size: 7, 'data-id': r.id });
  const qc = r.latest_withheld ? h('input', { placeholder: '质控未通过，特批理由（必填方可批准）', class: 'sc-override', 'data-id': r.id, size: 22 }) : null;
  const act = async (decision, pay_as) => {
    const body = { decision, comment: comment.value };
    if (qc && qc.value.trim() && decision === 'approve') body.qc_override = qc.value;
    if (pay_as) body.pay_as = pay_as;
    if (pay_as === 'adjusted_standard') body.adjusted_points = pts.value;
    try { await api('POST', `/api/special-cases/${r.id}/review`, body); toast(`特例单议 ${r.id} 已审核`); specialPage('pending'); }
    catch (e) { toast('审核失败：' + e.message, true); }
  };
  return h('span', {}, comment, ' ', qc, qc ? ' ' : null,
    h('button', { 'data-approve': r.id, onclick: () => act('approve', 'fee_for_service') }, '通过·按项目'), ' ',
    pts, h('button', { 'data-approve-adjusted': r.id, onclick: () => act('approve', 'adjusted_standard') }, '通过·调整标准'), ' ',
    h('button', { class: 'danger', 'data-reject': r.id, onclick: () => act('reject') }, '不通过'));
}

async function disputesPage() {
  const list = await api('GET', '/api/disputes');
  const cols = [
    { key: 'id', label: '编号', num: true }, { key: 'institution_id', label: '机构' }, { key: 'case_id', label: '病例号' },
    { key: 'kind', label: '类型', fmt: v => DISPUTE_KIND[v] || v }, { key: 'body', label: '内容' },
    { key: 'status', label: '状态', cell: r => tag(r.status) }, { key: 'deadline', label: '答复期限', fmt: when },
    { key: 'answer', label: '答复' },
  ];
  if (isAgency()) cols.push({ key: 'id', label: '处理', cell: r => r.status === 'closed' ? h('span') : answerCell(r) });
  const tools = [];
  if (!isAgency()) {
    const body = h('input', { id: 'suggestion-body', placeholder: '意见建议', size: 40 });
    tools.push(body, h('button', { onclick: async () => {
      try { await api('POST', '/api/disputes', { kind: 'suggestion', body: body.value }); toast('已提交'); disputesPage(); }
      catch (e) { toast('提交失败：' + e.message, true); }
    } }, '提交意见建议'));
  }
  page(h('h1', {}, '争议与反馈'), tools.length ? h('div', { class: 'panel toolbar' }, tools) : null, table('争议与反馈', cols, list, { id: 'disputes' }));
}

function answerCell(r) {
  const a = h('input', { placeholder: '答复内容', size: 18 });
  const close = h('input', { type: 'checkbox' });
  return h('span', {}, a, h('label', {}, close, '办结'), ' ', h('button', { onclick: async () => {
    try { await api('POST', `/api/disputes/${r.id}/answer`, { answer: a.value, close: close.checked }); toast('已答复'); disputesPage(); }
    catch (e) { toast('答复失败：' + e.message, true); }
  } }, '答复'));
}

async function settlementPage(selected) {
  const runs = await api('GET', '/api/settlement/runs');
  const tools = [];
  if (S.me.role === 'agency_admin') {
    const year = h('input', { id: 'settle-year', type: 'number', value: S.year || 2025, min: 2000, max: 2100, style: 'width:90px' });
    tools.push(h('div', { class: 'panel toolbar' }, '结算年度 ', year, h('button', { id: 'settle-start', onclick: async () => {
      try {
        const r = await api('POST', '/api/settlement/runs', { year: Number(year.value) });
        toast(`第 ${r.id} 次结算已开始`);
        await waitRun(r.id);
        settlementPage(r.id);
      } catch (e) { toast('结算失败：' + e.message, true); }
    } }, '发起年度结算'), h('span', { class: 'muted' }, '按当年病例（最新版本）、生效的分组方案与参数、已通过的特例单议计算；预算取上年病例。')));
  }
  const list = table('结算记录', [
    { key: 'id', label: '编号', cell: r => h('a', { href: '#/settlement/' + r.id, class: 'run-link' }, String(r.id)) },
    { key: 'year', label: '年度' }, { key: 'status', label: '状态', cell: r => tag(r.status) },
    { key: 'cases', label: '病例数', num: true }, { key: 'special_cases', label: '特例单议', num: true },
    { key: 'started_at', label: '开始', fmt: when }, { key: 'finished_at', label: '完成', fmt: when }, { key: 'message', label: '说明' },
  ], runs, { id: 'runs' });
  const id = selected || (runs.find(r => r.status === 'done') || {}).id;
  let detail = null;
  if (id) {
    const d = await api('GET', '/api/settlement/runs/' + id);
    const sum = d.run.summary || {};
    const sc = sum.special_cases ? { title: '按特例单议支付的病例', columns: ['机构', '病例号', '病组', '支付方式', '点数', '支付状态'].map(l => ({ label: l })), rows: sum.special_cases.rows } : null;
    detail = h('div', { id: 'run-detail' }, h('h2', {}, `第 ${id} 次结算（${d.run.year}年，${STATUS[d.run.status] || d.run.status}）`),
      h('div', { class: 'panel toolbar' }, h('strong', {}, '下载'), d.documents.map(doc => h('button', { class: 'secondary', onclick: () => download(`/api/settlement/runs/${id}/documents/${encodeURIComponent(doc.name)}`, doc.name) }, doc.name))),
      d.run.status === 'failed' ? h('p', { class: 'err', id: 'run-error' }, '结算失败：' + d.run.message) : null,
      (sum.notes || []).length ? h('div', { class: 'panel', id: 'run-notes' }, h('strong', {}, '说明'), h('ul', {}, sum.notes.map(n => h('li', {}, n)))) : null,
      serviceTable(sum.summary), serviceTable(sum.identity, { id: 'run-identity' }),
      sum.withheld ? serviceTable(sum.withheld, { id: 'run-withheld', empty: '无暂缓支付病例' }) : null,
      serviceTable(sum.point_values), serviceTable(sum.hospitals), sc ? serviceTable(sc, { id: 'run-special' }) : null);
  }
  page(h('h1', {}, isAgency() ? '结算' : '结算单'), tools, list, detail);
}

async function waitRun(id) {
  for (let i = 0; i < 600; i++) {
    const d = await api('GET', '/api/settlement/runs/' + id);
    if (d.run.status !== 'running') return d;
    await new Promise(r => setTimeout(r, 500));
  }
}

async function bulletinPage(year, half) {
  year = year || S.year || 2025; half = half || 1;
  const b = await api('GET', `/api/special-cases/bulletin?year=${year}&half=${half}`);
  const halfSel = h('select', { onchange: () => bulletinPage(year, Number(halfSel.value)) }, [[1, '上半年'], [2, '下半年']].map(([v, l]) => h('option', { value: v, selected: v === half }, l)));
  page(h('h1', {}, b.title), h('div', { class: 'toolbar' }, yearPicker(year, y => bulletinPage(y, half)), halfSel),
    serviceTable({ title: b.title, columns: b.columns, rows: b.rows }, { id: 'bulletin' }),
    table('质控未通过而特批的特例单议', [{ key: 'id', label: '编号' }, { key: 'institution_id', label: '机构' }, { key: 'case_id', label: '病例号' },
      { key: 'quarter', label: '季度' }, { key: 'qc_withheld', label: '未通过的质控规则' }, { key: 'qc_override', label: '特批理由' }, { key: 'reviewed_at', label: '审核时间', fmt: when }],
      b.qc_overrides || [], { id: 'bulletin-overrides', empty: '本期无质控特批' }));
}

async function reportsPage() {
  const kinds = isAgency() ? [['monthly', '月度反馈（机构）'], ['quarterly', '季度通报'], ['annual', '年度信息公开']] : [['monthly', '月度反馈']];
  const kind = h('select', { id: 'report-kind' }, kinds.map(([v, l]) => h('option', { value: v }, l)));
  const y = S.year || 2025;
  const period = h('input', { id: 'report-period', value: `${y}-03`, size: 9, title: '月度 2025-03，季度 2025Q1，年度 2025' });
  kind.addEventListener('change', () => { period.value = { monthly: `${y}-03`, quarterly: `${y}Q1`, annual: `${y}` }[kind.value]; });
  let inst = null;
  if (isAgency()) {
    const list = await api('GET', '/api/institutions');
    inst = h('select', { id: 'report-inst' }, list.map(i => h('option', { value: i.id }, `${i.id} ${i.name}`)));
  }
  const frame = h('iframe', { id: 'report-frame', sandbox: '', style: 'width:100%;height:900px;border:1px solid #dee2e6;background:#fff' });
  const query = () => `/api/reports/${kind.value}?period=${encodeURIComponent(period.value)}` + (inst && kind.value === 'monthly' ? '&institution_id=' + encodeURIComponent(inst.value) : '');
  const show = async () => {
    try { frame.srcdoc = await api('GET', query()); }
    catch (e) { toast('报表生成失败：' + e.message, true); }
  };
  page(h('h1', {}, isAgency() ? '报表' : '月度反馈'),
    h('div', { class: 'panel toolbar' }, kind, ' 期间 ', period, inst ? [' 机构 ', inst] : null,
      h('button', { id: 'report-show', onclick: show }, '生成'),
      h('button', { class: 'secondary', onclick: () => download(query() + '&format=xlsx', `report-${period.value}.xlsx`) }, '下载 Excel'),
      h('span', { class: 'muted' }, '指标与同比、分组结果、点数、质控问题与疑点病例（附理由）；数据为库中各病例的最新版本。')),
    frame);
}

// ------------------------------------------------------------------ router

async function route() {
  const parts = (location.hash || '#/').slice(2).split('/').map(decodeURIComponent);
  if (!S.token) { loginPage(); return; }
  try {
    if (!S.me) S.me = await api('GET', '/api/me');
    switch (parts[0]) {
      case 'login': loginPage(); break;
      case 'institution': await institutionPage(parts[1]); break;
      case 'case': await casePage(parts[1], parts[2]); break;
      case 'upload': uploadPage(); break;
      case 'special': await specialPage(); break;
      case 'disputes': await disputesPage(); break;
      case 'settlement': await settlementPage(parts[1] ? Number(parts[1]) : undefined); break;
      case 'bulletin': await bulletinPage(); break;
      case 'reports': await reportsPage(); break;
      default: await dashboardPage();
    }
    document.body.setAttribute('data-page', parts[0] || 'dashboard');
  } catch (e) {
    if (S.token) page(h('p', { class: 'err' }, '加载失败：' + e.message));
  }
}

window.addEventListener('hashchange', route);
route();
