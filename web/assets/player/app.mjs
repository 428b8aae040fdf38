// app.mjs: reelay's swipe player, the page at / on the API listener. Routes live in the URL's
// fragment, so that every link (a shared video, a profile) is this one page:
//
//	#/            For You            #/following   Following
//	#/v/{id}      a shared video, then For You
//	#/@{handle}   a profile          #/upload      upload a video
//
// A visitor watches For You without an account; liking, commenting, following, reporting and
// uploading ask them to log in or sign up first, then go on with what they asked.

import { html, render, useEffect, useMemo, useState } from '/assets/vendor/preact-htm.mjs';
import { login, onSession, register, session } from './api.mjs';
import { Feed } from './feed.mjs';
import { Profile } from './profile.mjs';
import { Upload } from './upload.mjs';
import { Icon, Sheet, Toasts, toast } from './ui.mjs';

function parseRoute(hash) {
  const h = decodeURIComponent(hash.replace(/^#/, '')) || '/';
  let m;
  if (h === '/' || h === '/foryou') return { view: 'feed', source: 'foryou' };
  if (h === '/following') return { view: 'feed', source: 'following' };
  if ((m = h.match(/^\/v\/([a-z2-7]{26})$/))) return { view: 'feed', source: 'video:' + m[1] };
  if ((m = h.match(/^\/@([a-z0-9][a-z0-9_.]{2,29})$/i))) return { view: 'profile', handle: m[1].toLowerCase() };
  if (h === '/upload') return { view: 'upload' };
  return { view: 'feed', source: 'foryou' };
}

function App() {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  const [user, setUser] = useState(() => session()?.user || null);
  const [asking, setAsking] = useState(null); // {reason, then}
  const [muted, setMuted] = useState(true);

  useEffect(() => {
    const f = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', f);
    const off = onSession((s) => setUser(s?.user || null));
    return () => { removeEventListener('hashchange', f); off(); };
  }, []);

  // auth is what views need of the session: the user, ask (show the login sheet, saying what
  // for: "to like videos"), and need (run f now if logged in, else after logging in).
  const auth = useMemo(() => ({
    user,
    ask: (reason, then) => setAsking({ reason, then }),
    need: (reason, f) => (session() ? f() : setAsking({ reason, then: f })),
  }), [user]);

  let view;
  if (route.view === 'profile') view = html`<${Profile} handle=${route.handle} auth=${auth} />`;
  else if (route.view === 'upload') view = html`<${Upload} auth=${auth} />`;
  else {
    const tab = route.source === 'following' ? 'following' : 'foryou';
    view = html`
      <nav class="tabs" aria-label="Feeds">
        <a href="#/following" class=${tab === 'following' ? 'on' : ''} data-tab="following">Following</a>
        <a href="#/" class=${tab === 'foryou' ? 'on' : ''} data-tab="foryou">For You</a>
      </nav>
      <${Feed} key=${route.source} source=${route.source} auth=${auth} muted=${muted} setMuted=${setMuted} />`;
  }
  const me = user ? '#/@' + user.handle : null;
  const onMe = route.view === 'profile' && user && route.handle === user.handle;
  return html`<div class="app">
    <div class=${'column ' + route.view}>
      <main class="view">${view}</main>
      <nav class="bottom" aria-label="Main">
        <a href="#/" class=${route.view === 'feed' ? 'on' : ''} data-nav="home"><${Icon} name="home" /><span>Home</span></a>
        <a href="#/upload" class="create" data-nav="upload" aria-label="Upload"><span class="plus"><${Icon} name="plus" size="22" /></span></a>
        ${me
          ? html`<a href=${me} class=${onMe ? 'on' : ''} data-nav="me"><${Icon} name="user" /><span>Profile</span></a>`
          : html`<button data-nav="login" onClick=${() => auth.ask('')}><${Icon} name="user" /><span>Log in</span></button>`}
      </nav>
    </div>
    ${asking ? html`<${Login} reason=${asking.reason} onClose=${() => setAsking(null)} onDone=${() => {
      const then = asking.then;
      setAsking(null);
      then?.();
    }} />` : null}
    <${Toasts} />
  </div>`;
}

function Login({ reason, onClose, onDone }) {
  const [mode, setMode] = useState('signup');
  const [handle, setHandle] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const u = mode === 'signup' ? await register(handle, password) : await login(handle, password);
      toast(mode === 'signup' ? `Welcome, @${u.handle}` : `Logged in as @${u.handle}`);
      onDone();
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Sheet} title=${mode === 'signup' ? 'Sign up' : 'Log in'} onClose=${onClose} cls="login">
    <form class="login-form" onSubmit=${submit} data-mode=${mode}>
      <p class="reason">${reason ? `${mode === 'signup' ? 'Sign up' : 'Log in'} ${reason}` : 'Welcome to reelay'}</p>
      <label class="field"><span>Handle</span>
        <input name="handle" autocomplete="username" autocapitalize="none" spellcheck="false" required minlength="3" maxlength="30"
          pattern="[A-Za-z0-9][A-Za-z0-9_.]{2,29}" value=${handle} onInput=${(e) => setHandle(e.target.value)} placeholder="yourname" /></label>
      <label class="field"><span>Password</span>
        <input name="password" type="password" autocomplete=${mode === 'signup' ? 'new-password' : 'current-password'} required
          minlength=${mode === 'signup' ? 8 : 1} value=${password} onInput=${(e) => setPassword(e.target.value)}
          placeholder=${mode === 'signup' ? 'At least 8 characters' : ''} /></label>
      ${error ? html`<p class="error" role="alert">${error}</p>` : null}
      <button class="btn primary wide" type="submit" disabled=${busy}>${busy ? '…' : mode === 'signup' ? 'Sign up' : 'Log in'}</button>
      <p class="switch">${mode === 'signup'
        ? html`Have an account? <button type="button" class="link" data-switch="login" onClick=${() => { setMode('login'); setError(''); }}>Log in</button>`
        : html`New to reelay? <button type="button" class="link" data-switch="signup" onClick=${() => { setMode('signup'); setError(''); }}>Sign up</button>`}</p>
    </form>
  <//>`;
}

render(html`<${App} />`, document.getElementById('app'));
