import os

import pytest

from compose.errors import ConfigError, ConfigErrors, UsageError

WEB = "services:\n  web:\n    image: nginx\n"


# -- finding files and naming the project --------------------------------------------

def test_project_directory_without_files_looks_there(proj, tmp_path):
    other = tmp_path / "stack"
    other.mkdir()
    (other / "compose.yaml").write_text(WEB)
    assert proj.load(project_directory=str(other)).project.working_dir == str(other)


def test_unused_resources_are_left_out(proj):
    proj.write({"compose.yaml": WEB + "    volumes: [used:/u]\nvolumes:\n  used: {}\n  unused: {}\n"
                "networks:\n  spare: {}\nsecrets:\n  s: {file: ./s}\n"})
    p = proj.load().project
    assert (list(p.volumes), list(p.networks), list(p.secrets)) == (["used"], ["default"], [])


def test_compose_project_name_variable_is_the_project_name(proj):
    proj.write({"compose.yaml": "name: shop\nservices:\n  web:\n    image: x\n    labels: [\"p=${COMPOSE_PROJECT_NAME}\"]\n"})
    assert proj.load().project.services["web"].labels == {"p": "shop"}
    assert proj.load(project_name="other").project.services["web"].labels == {"p": "other"}


def test_found_in_a_parent_with_its_override(proj):
    proj.write({"compose.yaml": WEB, "compose.override.yaml": "services:\n  web:\n    user: u\n",
                "sub/deeper/x.txt": ""})
    loaded = proj.load(cwd=proj.root / "sub" / "deeper")
    assert loaded.project.working_dir == proj.path()
    assert loaded.project.config_files == (proj.path("compose.yaml"), proj.path("compose.override.yaml"))
    assert loaded.project.services["web"].user == "u"


def test_compose_yaml_preferred_over_docker_compose_yml_with_a_warning(proj):
    proj.write({"compose.yaml": WEB, "docker-compose.yml": "services:\n  other:\n    image: x\n"})
    loaded = proj.load()
    assert list(loaded.project.services) == ["web"]
    assert any("Found multiple config files" in w for w in loaded.warnings)


def test_compose_file_variable_with_separator(proj):
    proj.write({"a.yml": WEB, "b.yml": "services:\n  web:\n    user: b\n"})
    loaded = proj.load(env={"COMPOSE_FILE": "a.yml;b.yml", "COMPOSE_PATH_SEPARATOR": ";"})
    assert loaded.project.services["web"].user == "b"


def test_no_file_is_a_clear_error(proj):
    with pytest.raises(ConfigError, match="no configuration file provided"):
        proj.load()


@pytest.mark.parametrize("folder,name", [("My.App", "myapp"), ("_x-Y_z", "x-y_z"), ("Web 2", "web2")])
def test_project_name_from_folder_is_normalized(proj, tmp_path, folder, name):
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "compose.yaml").write_text(WEB)
    assert type(proj)(tmp_path / folder).load().project.name == name


def test_project_name_precedence(proj):
    proj.write({"compose.yaml": "name: fromfile\n" + WEB})
    assert proj.load().project.name == "fromfile"
    assert proj.load(env={"COMPOSE_PROJECT_NAME": "fromenv"}).project.name == "fromenv"
    assert proj.load(env={"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="flag").project.name == "flag"


@pytest.mark.parametrize("name", ["Upper", "-dash", "with space", "a.b"])
def test_invalid_explicit_project_name(proj, name):
    proj.write({"compose.yaml": WEB})
    with pytest.raises(UsageError, match="invalid project name"):
        proj.load(project_name=name)


def test_project_directory_flag_moves_relative_paths_and_env(proj, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".env").write_text("TAG=from-other\n")
    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx:${TAG}\n    volumes: ['./d:/d']\n"})
    p = proj.load(project_directory=str(other), files=("compose.yaml",)).project
    assert p.working_dir == str(other)
    assert p.services["web"].image == "nginx:from-other"
    assert p.services["web"].volumes[0].source == str(other / "d")


# -- .env and interpolation ---------------------------------------------------------

def test_shell_environment_wins_over_dotenv(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx:${TAG}\n    user: ${U}\n",
                ".env": "TAG=dotenv\nU=dotenv-user\n"})
    p = proj.load(env={"TAG": "shell"}).project
    assert (p.services["web"].image, p.services["web"].user) == ("nginx:shell", "dotenv-user")


def test_env_file_flags_replace_dotenv_and_later_wins(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx:${TAG}\n",
                ".env": "TAG=dotenv\n", "a.env": "TAG=a\n", "b.env": "TAG=b\n"})
    assert proj.load(env_files=("a.env", "b.env")).project.services["web"].image == "nginx:b"


def test_missing_env_file_flag_is_an_error(proj):
    proj.write({"compose.yaml": WEB})
    with pytest.raises(ConfigError, match="env file .*nope.env not found"):
        proj.load(env_files=("nope.env",))


def test_unset_variable_warns_and_is_empty(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx\n    user: '${NOBODY}x'\n"})
    loaded = proj.load()
    assert loaded.project.services["web"].user == "x"
    assert loaded.warnings == ['The "NOBODY" variable is not set. Defaulting to a blank string.']


def test_required_variable_error_names_variable_message_file_and_key(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: ${TAG:?set TAG in .env}\n"})
    with pytest.raises(ConfigError) as info:
        proj.load()
    assert str(info.value) == ("compose.yaml:3:12: services.web.image: required variable TAG is "
                               "missing a value: set TAG in .env")


def test_no_interpolate_keeps_variables(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx:${TAG:-x}\n"})
    assert proj.load(interpolate=False).project.services["web"].image == "nginx:${TAG:-x}"


def test_environment_key_alone_takes_shell_then_dotenv_value(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n    environment: [A, B, C]\n",
                ".env": "B=from-dotenv\n"})
    env = proj.load(env={"A": "from-shell"}).project.services["web"].environment
    assert env == {"A": "from-shell", "B": "from-dotenv", "C": None}


def test_env_file_values_under_environment(proj):
    proj.write({"compose.yaml": """\
        services:
          web:
            image: x
            env_file: [web.env, {path: missing.env, required: false}]
            environment: {B: explicit}
        """, "web.env": "A=1\nB=from-file\n"})
    web = proj.load().project.services["web"]
    assert web.environment == {"A": "1", "B": "explicit"}
    assert [e.required for e in web.env_file] == [True, False]


def test_required_env_file_missing_is_located(proj):
    proj.write({"compose.yaml": "services:\n  web:\n    image: x\n    env_file: nope.env\n"})
    with pytest.raises(ConfigErrors, match=r"compose.yaml:4:15: services.web.env_file\[0\]: env file .*nope.env not found"):
        proj.load()


# -- extends and include -------------------------------------------------------------

def test_extends_other_file_resolves_paths_against_that_file(proj):
    proj.write({
        "compose.yaml": """\
            services:
              web:
                extends: {file: common/base.yml, service: app}
                environment: {B: "2"}
            """,
        "common/base.yml": """\
            services:
              app:
                build: ./src
                env_file: app.env
                volumes: ["./data:/data"]
                environment: {A: "1", B: "1"}
            """,
        "common/app.env": "FROM_FILE=yes\n",
    })
    web = proj.load().project.services["web"]
    assert web.build.context == proj.path("common", "src")
    assert web.volumes[0].source == proj.path("common", "data")
    assert web.environment == {"FROM_FILE": "yes", "A": "1", "B": "2"}


def test_nested_extends_in_same_file(proj):
    proj.write({"compose.yaml": """\
        services:
          base: {image: x, user: a, labels: {l1: "1"}}
          mid: {extends: base, user: b, labels: {l2: "2"}}
          top: {extends: {service: mid}, command: run}
        """})
    top = proj.load().project.services["top"]
    assert (top.image, top.user, dict(top.labels), top.command) == ("x", "b", {"l1": "1", "l2": "2"}, ("run",))


def test_extends_cycle_is_reported(proj):
    proj.write({"compose.yaml": "services:\n  a: {extends: b, image: x}\n  b: {extends: a}\n"})
    with pytest.raises(ConfigError, match="circular reference with extends: (a -> b -> a|b -> a -> b)"):
        proj.load()


def test_extends_unknown_service(proj):
    proj.write({"compose.yaml": "services:\n  a: {extends: ghost}\n"})
    with pytest.raises(ConfigError, match='cannot extend service "ghost"'):
        proj.load()


def test_include_brings_services_with_their_own_dotenv(proj):
    proj.write({
        "compose.yaml": "include:\n  - db/compose.yaml\n" + WEB + "    depends_on: [db]\n",
        "db/compose.yaml": "services:\n  db:\n    image: postgres:${PG}\n    volumes: ['./init:/init', 'pg:/var/lib/pg']\nvolumes:\n  pg: {}\n",
        "db/.env": "PG=16\n",
    })
    p = proj.load().project
    assert p.services["db"].image == "postgres:16"
    assert p.services["db"].volumes[0].source == proj.path("db", "init")
    assert "pg" in p.volumes


def test_include_conflict_is_an_error(proj):
    proj.write({"compose.yaml": "include: [other.yaml]\nservices:\n  web:\n    image: a\n",
                "other.yaml": "services:\n  web:\n    image: b\n"})
    with pytest.raises(ConfigError, match="services.web: conflicts with the service of the same name imported"):
        proj.load()


def test_include_cycle_is_an_error(proj):
    proj.write({"compose.yaml": "include: [b.yaml]\n" + WEB, "b.yaml": "include: [compose.yaml]\n"})
    with pytest.raises(ConfigError, match="cycle|circular"):
        proj.load()


# -- profiles ----------------------------------------------------------------------

PROFILES = """\
services:
  web: {image: x}
  debug: {image: x, profiles: [debug]}
  tools: {image: x, profiles: [tools, ops]}
"""


@pytest.mark.parametrize("kwargs,env,enabled", [
    ({}, {}, ["web"]),
    ({"profiles": ("debug",)}, {}, ["debug", "web"]),
    ({}, {"COMPOSE_PROFILES": "ops,debug"}, ["debug", "tools", "web"]),
    ({"profiles": ("*",)}, {}, ["debug", "tools", "web"]),
    ({"services": ("tools",)}, {}, ["tools", "web"]),
    ({"profiles": ("tools",)}, {"COMPOSE_PROFILES": "debug"}, ["tools", "web"]),
])
def test_profiles(proj, kwargs, env, enabled):
    proj.write({"compose.yaml": PROFILES})
    p = proj.load(env=env, **kwargs).project
    assert sorted(p.services) == enabled
    assert p.all_profiles() == ["debug", "ops", "tools"]


# -- bad input: every class of error names the file, line and key ------------------

@pytest.mark.parametrize("text,message", [
    ("", "compose.yaml: empty compose file"),
    ("# only a comment\n", "compose.yaml: empty compose file"),
    ("- a\n- b\n", "compose.yaml:1:1: the top-level object must be a mapping, not a list"),
    ("services: [a]\n", "compose.yaml:1:11: services: must be a mapping of service names to services, not a list"),
    ("services:\n  web: hello\n", 'compose.yaml:2:8: services.web: a service must be a mapping, not the string "hello"'),
    ("services:\n  web:\n    image: a\n    image: b\n", 'compose.yaml:4:5: services.web: mapping key "image" already defined at line 3'),
    ("services:\n  web: [\n", "compose.yaml:3:1: invalid YAML"),
    ("services:\n  web:\n    image: x\n    workdir: /a\n", 'compose.yaml:4:5: services.web.workdir: unknown key "workdir" (did you mean "working_dir"?)'),
    ("services:\n  web:\n    image: x\n    ports:\n      - '80:80'\n      - '80:abc'\n",
     'compose.yaml:6:9: services.web.ports[1]: "80:abc" is not a valid port'),
    ("services:\n  web:\n    image: x\n    ports: '80:80'\n", 'compose.yaml:4:12: services.web.ports: must be a list, not "80:80"'),
    ("services:\n  web:\n    image: x\n    volumes: ['data:relative']\n", "compose.yaml:4:15: services.web.volumes[0]"),
    ("services:\n  web:\n    image: x\n    healthcheck: {interval: soon}\n", "compose.yaml:4:29: services.web.healthcheck.interval"),
    ("services:\n  web:\n    image: x\n    restart: sometimes\n", 'compose.yaml:4:14: services.web.restart: "sometimes" is not a restart policy'),
    ("services:\n  web:\n    image: x\n    mem_limit: lots\n", "compose.yaml:4:16: services.web.mem_limit"),
    ("services:\n  web:\n    user: x\n", 'compose.yaml:3:5: services.web: service "web" has neither an image nor a build context'),
    ("services:\n  web:\n    image: x\n    networks: [front]\n", 'compose.yaml:4:15: services.web.networks.front: service "web" refers to undefined network "front"'),
    ("services:\n  web:\n    image: x\n    depends_on: [db]\n", 'compose.yaml:4:17: services.web.depends_on: service "web" depends on undefined service "db"'),
    ("services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: x\n    depends_on: [web]\n",
     "compose.yaml:4:17: services.web.depends_on: dependency cycle between services: web -> db -> web"),
    ("services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: x\n    profiles: [x]\n",
     'services.web.depends_on: service "web" depends on service "db", which is disabled (profiles: x)'),
    ("servics:\n  web: {}\n", 'compose.yaml:1:1: servics: unknown key "servics" (did you mean "services"?)'),
    ("services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: ready}\n  db: {image: x}\n",
     'compose.yaml:5:23: services.web.depends_on.db.condition: "ready" is not one of'),
])
def test_bad_input_names_file_line_and_key(proj, text, message):
    (proj.root / "compose.yaml").write_text(text)
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        proj.load()
    assert message in str(info.value)


def test_all_errors_of_a_file_are_reported_together(proj):
    proj.write({"compose.yaml": """\
        services:
          web:
            image: x
            workdir: /a
            ports: ["80:abc"]
          db:
            image: y
            restart: sometimes
            mem_limit: lots
        """})
    with pytest.raises(ConfigErrors) as info:
        proj.load()
    assert len(info.value.errors) == 2  # the schema pass reports both of its errors at once
    with pytest.raises(ConfigErrors) as info:
        proj.write({"compose.yaml": "services:\n  db:\n    image: y\n    restart: sometimes\n    mem_limit: lots\n"})
        proj.load()
    assert len(info.value.errors) == 2


def test_errors_in_an_override_file_name_that_file(proj):
    proj.write({"compose.yaml": WEB, "compose.override.yaml": "services:\n  web:\n    bogus: 1\n"})
    with pytest.raises(ConfigErrors, match=r"^compose.override.yaml:3:5: services.web.bogus"):
        proj.load()


# -- the cache ----------------------------------------------------------------------

def test_cache_is_reused_and_invalidated_by_files_and_variables(proj, tmp_path):
    from compose.config.api import load
    from compose.config.options import LoadOptions

    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx:${TAG:-1}\n"})
    env = {"HOME": "/home/tester", "PYCOMPOSE_CACHE_DIR": str(tmp_path / "cache")}
    opts = LoadOptions(cwd=proj.path())
    first = load(opts, env)
    assert first.inputs is not None and first.project.services["web"].image == "nginx:1"
    again = load(opts, env)
    assert again.inputs is None  # served from the cache
    assert load(opts, {**env, "TAG": "2"}).project.services["web"].image == "nginx:2"
    proj.write({".env": "TAG=3\n"})
    assert load(opts, env).project.services["web"].image == "nginx:3"
    proj.write({"compose.yaml": "services:\n  web:\n    image: redis\n"})
    assert load(opts, env).project.services["web"].image == "redis"
    assert oct(os.stat(tmp_path / "cache").st_mode & 0o777) == "0o700"


def test_a_view_is_kept_with_the_cached_project_and_read_back_without_the_model(proj, tmp_path):
    import subprocess
    import sys

    from compose.config.api import view
    from compose.config.options import LoadOptions

    proj.write({"compose.yaml": "services:\n  web:\n    image: nginx:${TAG:-1}\n    environment: ['A=${UNSET}']\n"})
    env = {"HOME": "/home/tester", "PYCOMPOSE_CACHE_DIR": str(tmp_path / "cache")}
    opts = LoadOptions(cwd=proj.path())
    made = []

    def image(loaded):
        made.append(1)
        return loaded.project.services["web"].image

    warnings = []
    assert view(opts, env, None, "image", image, warnings.append) == "nginx:1"
    assert view(opts, env, None, "image", image, warnings.append) == "nginx:1"
    assert warnings == ['The "UNSET" variable is not set. Defaulting to a blank string.'] * 2  # given each time
    assert len(made) == 1  # the second came from the cache
    # another process reads the view without importing the model, YAML or the loader
    code = ("import sys; from compose.config.api import view; from compose.config.options import LoadOptions\n"
            f"print(view(LoadOptions(cwd={proj.path()!r}), {env!r}, None, 'image', None, len))\n"
            "print(sorted(m for m in ('compose.config.model', 'compose.config.loader', 'yaml') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("nginx:1\n[]\n", "")
    assert view(opts, {**env, "TAG": "2"}, None, "image", image, warnings.append) == "nginx:2"  # a variable changed
    assert len(made) == 2


def test_a_file_that_is_not_utf8_is_one_located_error(proj):
    (proj.root / "compose.yaml").write_bytes(b"services:\n  a:\n    image: x\n    environment:\n      K: \"\xff\"\n")
    with pytest.raises(ConfigError) as info:
        proj.load()
    assert str(info.value) == f"{proj.path('compose.yaml')}:5:11: not valid UTF-8 (byte 0xff); save the file as UTF-8"
    (proj.root / "compose.yaml").write_text("services:\n  a: {image: x}\n")
    (proj.root / ".env").write_bytes(b"A=1\nB=\xfe\n")
    with pytest.raises(ConfigError, match=r"\.env:2:3: not valid UTF-8 \(byte 0xfe\)"):
        proj.load()
