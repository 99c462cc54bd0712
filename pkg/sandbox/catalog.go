package sandbox

import (
	"time"

	"github.com/psync-dev/psync/pkg/api"
)

// osTemplates is the fixed OS-template catalogue every team sees: a mix of
// Ubuntu, Windows and machine-learning images like Paperspace's own.
var osTemplates = []api.OsTemplate{
	osTemplate("tkni3aa4", "Ubuntu 18.04 Server", "ubuntu", "paperspace", "2018-06-12"),
	osTemplate("tq3yv9ks", "Ubuntu 20.04 Server", "ubuntu", "paperspace", "2020-05-04"),
	osTemplate("t0nspur5", "Ubuntu 20.04 ML-in-a-Box", "ubuntu", "paperspace", "2020-09-21"),
	osTemplate("tlvu4bt9", "Ubuntu 22.04 Server", "ubuntu", "paperspace", "2022-05-02"),
	osTemplate("t7vp562h", "Ubuntu 22.04 Desktop", "ubuntu", "paperspace", "2022-06-15"),
	osTemplate("tilqt47t", "Ubuntu 22.04 ML-in-a-Box", "ubuntu", "paperspace", "2023-01-10"),
	osTemplate("tbprvp2c", "Ubuntu 22.04 ML (CUDA 12.1)", "ubuntu", "paperspace", "2023-08-29"),
	osTemplate("tg5w3d1r", "Ubuntu 24.04 Server", "ubuntu", "paperspace", "2024-05-06"),
	osTemplate("tx8mq2zn", "Ubuntu 24.04 ML-in-a-Box", "ubuntu", "paperspace", "2024-07-22"),
	osTemplate("twnlstyi", "Windows Server 2016 Datacenter", "windows", "Administrator", "2017-02-01"),
	osTemplate("t1a5n6x8", "Windows Server 2019 Datacenter", "windows", "Administrator", "2019-03-18"),
	osTemplate("tfe4ykwb", "Windows 10 Pro (Parsec)", "windows", "paperspace", "2020-01-27"),
	osTemplate("t3ohz0kc", "Windows Server 2022 Datacenter", "windows", "Administrator", "2022-02-14"),
	osTemplate("tr7c4hdm", "Windows 11 Pro", "windows", "paperspace", "2023-03-06"),
}

func osTemplate(id, name, os, user, day string) api.OsTemplate {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	return api.OsTemplate{ID: id, Name: name, OS: os, DefaultUser: user, DtCreated: t.Add(9 * time.Hour).UTC()}
}
