import { h, replace } from '../dom.js';
import { signIn } from '../api.js';

export default {
  title: () => 'Sign in',
  render(root, { next }) {
    const notice = sessionStorage.getItem('chargeplane.notice');
    sessionStorage.removeItem('chargeplane.notice');
    const msg = h('div', { class: notice ? 'error' : '', role: 'alert', id: 'login-error' }, notice || '');
    const email = h('input', { type: 'email', name: 'email', id: 'email', autocomplete: 'username', required: true, autofocus: true });
    const password = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
    const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
    const form = h('form', {
      class: 'card login',
      onsubmit: async (e) => {
        e.preventDefault();
        button.disabled = true;
        button.textContent = 'Signing in…';
        try {
          await signIn(email.value.trim(), password.value);
          location.hash = next && next !== '#/login' ? next : '#/';
        } catch (err) {
          replace(msg, err.status === 401 ? 'Wrong email or password.' : err.message);
          msg.className = 'error';
          button.disabled = false;
          button.textContent = 'Sign in';
          password.select();
        }
      },
    },
    h('h1', null, '⚡ Chargeplane'),
    h('p', { class: 'muted' }, 'Sign in to operate your charging network.'),
    msg,
    h('label', { for: 'email' }, 'Email'), email,
    h('label', { for: 'password' }, 'Password'), password,
    button);
    replace(root, h('div', { class: 'center' }, form));
    email.focus();
  },
};
