def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, lume_services;"
        "heavy = [m for m in ('prefect', 'docker', 'pymongo', 'distributed') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
