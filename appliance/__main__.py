"""`python -m appliance` runs the command line."""

from appliance.cli.main import main

if __name__ == "__main__":
    main()
