import { NavLink, Route, Routes } from "react-router-dom";
import { ApiKeyBox } from "./components/ApiKeyBox";
import { EditorPage } from "./pages/EditorPage";
import { EvaluationDetailPage } from "./pages/EvaluationDetailPage";
import { EvaluationsPage } from "./pages/EvaluationsPage";
import { MonitorPage } from "./pages/MonitorPage";

export function App() {
  return (
    <>
      <header className="top">
        <h1>Crucible</h1>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Editor
          </NavLink>
          <NavLink to="/evaluations">Evaluations</NavLink>
          <NavLink to="/monitor">Monitor</NavLink>
          <a href="/api/docs">API</a>
        </nav>
        <ApiKeyBox />
      </header>
      <main>
        <Routes>
          <Route path="/" element={<EditorPage />} />
          <Route path="/evaluations" element={<EvaluationsPage />} />
          <Route path="/evaluations/:id" element={<EvaluationDetailPage />} />
          <Route path="/monitor" element={<MonitorPage />} />
          <Route path="*" element={<p>No page here. The editor is at the top left.</p>} />
        </Routes>
      </main>
    </>
  );
}
