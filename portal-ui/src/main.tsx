import { render } from 'preact';
import { PortalApi } from './api';
import { App } from './app';
import { apiBase, applyTheme, isEmbedded, pageTheme, takeToken } from './boot';
import './styles.css';

const token = takeToken();
const theme = pageTheme();
applyTheme(theme);
if (isEmbedded()) document.documentElement.dataset.embed = '1';

render(<App api={new PortalApi(apiBase(), token)} theme={theme} />, document.getElementById('app')!);
