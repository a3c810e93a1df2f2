// A picture full size; a click anywhere closes it.

import { $ } from '../dom.js';

export function initPictureViewer() {
  $('dlg-image').addEventListener('click', () => $('dlg-image').close());
}

export function showPicture(url) {
  $('viewer-img').src = url;
  $('dlg-image').showModal();
}
