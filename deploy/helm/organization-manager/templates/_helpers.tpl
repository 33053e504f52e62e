{{- define "orgman.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "orgman.labels" -}}
app: {{ include "orgman.fullname" . }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "orgman.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "orgman.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* The service's environment: the same for the server, the migration
Job and the reconcile CronJob. */ -}}
{{- define "orgman.env" -}}
- name: SERVER_PORT
  value: {{ .Values.service.port | quote }}
{{- if .Values.migrations.job.enabled }}
# The pre-install/pre-upgrade Job migrates; replicas need not race for it.
- name: SPRING_LIQUIBASE_ENABLED
  value: "false"
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- range .Values.extraEnvVarsMultipleSecretsCustomKeys }}
{{- $secret := .name }}
{{- range $variable, $key := .secrets }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- end -}}

{{- /* The container's hardening, shared by every workload of the chart. */ -}}
{{- define "orgman.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Secrets mounted as files (CA certificates, client keys), read-only. */}}
{{- define "orgman.fileMounts" -}}
{{- range .Values.secretFiles }}
- name: {{ .name }}
  mountPath: {{ .mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "orgman.fileVolumes" -}}
{{- range .Values.secretFiles }}
- name: {{ .name }}
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0400
{{- end }}
{{- end }}
