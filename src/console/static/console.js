// The Gatehouse console's progressive enhancement (every page works without it):
// * a button with data-copy="<id>" copies that element's text;
// * a checkbox with data-select-all="<name>" checks or clears every checkbox named <name>;
// * a link with data-confirm (to a confirmation page) opens that page's question in a <dialog>
//   and posts its form from there.
'use strict';

document.addEventListener('click', async (ev) => {
  const copy = ev.target.closest('[data-copy]');
  if (copy) {
    const el = document.getElementById(copy.dataset.copy);
    if (!el) return;
    try {
      await navigator.clipboard.writeText(el.textContent.trim());
      copy.textContent = 'Copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(el);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      copy.textContent = 'Selected: press Ctrl+C';
    }
    return;
  }
  const confirmLink = ev.target.closest('a[data-confirm]');
  if (confirmLink && typeof HTMLDialogElement === 'function') {
    ev.preventDefault();
    openConfirm(confirmLink.href);
  }
});

document.addEventListener('change', (ev) => {
  const all = ev.target.closest('[data-select-all]');
  if (!all) return;
  for (const box of document.querySelectorAll(`input[type="checkbox"][name="${CSS.escape(all.dataset.selectAll)}"]`)) {
    box.checked = all.checked;
  }
});

// Loads the confirmation page and shows its question and form in a dialog.
async function openConfirm(href) {
  let doc;
  try {
    const resp = await fetch(href, { credentials: 'same-origin' });
    if (!resp.ok) throw new Error(String(resp.status));
    doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
  } catch {
    window.location.href = href;
    return;
  }
  const form = doc.querySelector('form.confirm');
  const heading = doc.querySelector('main h1');
  if (!form || !heading) { window.location.href = href; return; }
  const dialog = document.createElement('dialog');
  dialog.setAttribute('aria-labelledby', 'confirm-title');
  heading.id = 'confirm-title';
  dialog.append(document.importNode(heading, true));
  const what = heading.nextElementSibling;
  if (what && what.tagName === 'P') dialog.append(document.importNode(what, true));
  const f = document.importNode(form, true);
  const cancel = f.querySelector('a.secondary');
  if (cancel) cancel.addEventListener('click', (e) => { e.preventDefault(); dialog.close(); });
  dialog.append(f);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
